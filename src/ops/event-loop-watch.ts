/** What was going on when the event loop stalled. */
export interface StallReport {
  readonly stallMs: number;
  /** Requests that were in progress (method and route template), oldest first. */
  readonly inFlight: readonly string[];
  /** Voice sessions and calls open at the time. */
  readonly sessions: number;
}

/**
 * Event-loop stall watchdog: a timer ticks every `tickMs`; a tick that comes more than
 * `thresholdMs` late means something held the loop (synchronous work, a blocking native call).
 * The report names what was in flight then, so the culprit can be found. A stall cannot be
 * seen while it lasts — the watchdog runs on the loop it watches — only right after.
 */
export class EventLoopWatch {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private readonly inFlight = new Map<number, string>();
  private nextId = 1;
  private stalls = 0;

  constructor(
    private readonly options: { readonly thresholdMs: number; readonly tickMs?: number; readonly sessions: () => number },
    private readonly onStall: (report: StallReport) => void,
  ) {}

  get stallCount(): number {
    return this.stalls;
  }

  start(): void {
    const tickMs = this.options.tickMs ?? 50;
    this.last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - this.last - tickMs;
      this.last = now;
      if (late > this.options.thresholdMs) {
        this.stalls += 1;
        this.onStall({ stallMs: Math.round(late + tickMs), inFlight: [...this.inFlight.values()], sessions: this.options.sessions() });
      }
    }, tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Requests in progress now (method and route), oldest first. */
  inFlightNow(): string[] {
    return [...this.inFlight.values()];
  }

  /** Marks work as in progress; the returned function marks it done. */
  begin(label: string): () => void {
    const id = this.nextId++;
    this.inFlight.set(id, label);
    return () => this.inFlight.delete(id);
  }
}
