/** What the admin sessions view shows of a connection. */
export interface ConnectionView {
  /** Messages in the last complete second. */
  readonly messagesPerSecond: number;
  readonly peakMessagesPerSecond: number;
  /** Protocol errors so far (malformed or unexpected messages the connection survived). */
  readonly errors: number;
  /** Sent more than the allowed messages in one second at least once. */
  readonly flagged: boolean;
}

export interface ConnectionLimits {
  /** More messages than this in one second flags the connection (logged once, shown to admins). */
  readonly maxMessagesPerSecond: number;
  /** More protocol errors than this: the connection is closed. */
  readonly maxErrors: number;
}

/**
 * Per connection: message rate in one-second windows and protocol errors. A flood is flagged
 * (a misbehaving client is visible before it is a problem); repeated errors end the connection,
 * so a broken or hostile client cannot keep a session slot busy with garbage.
 */
export class ConnectionMonitor {
  private windowStartMs = 0;
  private inWindow = 0;
  private lastWindow = 0;
  private peak = 0;
  private errorCount = 0;
  private isFlagged = false;

  constructor(
    private readonly limits: ConnectionLimits,
    /** Told once, the first time the rate goes over the limit. */
    private readonly onFlagged: (messagesPerSecond: number) => void,
    private readonly nowMs: () => number = Date.now,
  ) {}

  message(): void {
    const now = this.nowMs();
    if (now - this.windowStartMs >= 1000) {
      // A gap of more than a second means the previous window was the last one with traffic.
      this.lastWindow = now - this.windowStartMs >= 2000 ? 0 : this.inWindow;
      this.windowStartMs = now;
      this.inWindow = 0;
    }
    this.inWindow += 1;
    if (this.inWindow > this.peak) this.peak = this.inWindow;
    if (!this.isFlagged && this.inWindow > this.limits.maxMessagesPerSecond) {
      this.isFlagged = true;
      this.onFlagged(this.inWindow);
    }
  }

  /** Counts a protocol error; true when the connection has now had too many and must close. */
  error(): boolean {
    this.errorCount += 1;
    return this.errorCount > this.limits.maxErrors;
  }

  view(): ConnectionView {
    const stale = this.nowMs() - this.windowStartMs >= 2000;
    return { messagesPerSecond: stale ? 0 : this.lastWindow, peakMessagesPerSecond: this.peak, errors: this.errorCount, flagged: this.isFlagged };
  }
}
