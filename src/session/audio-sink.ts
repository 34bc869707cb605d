import type { AudioFormat } from '../audio/audio-format.js';

/**
 * How much of the current reply's audio the listener has heard, as the transport learns it
 * (Twilio `mark` echoes, a client's playback acknowledgements). Monotonic within a reply.
 */
export class PlaybackPosition {
  private playedMs = 0;
  private waiters: Array<{ ms: number; resolve: () => void }> = [];

  get ms(): number {
    return this.playedMs;
  }

  /** The transport reports that the listener heard the reply up to `playedMs`. */
  report(playedMs: number): void {
    if (!(playedMs > this.playedMs)) return;
    this.playedMs = playedMs;
    const due = this.waiters.filter((waiter) => waiter.ms <= playedMs);
    this.waiters = this.waiters.filter((waiter) => waiter.ms > playedMs);
    for (const waiter of due) waiter.resolve();
  }

  /** A new reply starts at 0; anything still waiting is released. */
  reset(): void {
    this.playedMs = 0;
    this.releaseAll();
  }

  /** Resolves once `ms` has been heard, the signal aborts, or `timeoutMs` passes (a listener that stopped acknowledging). */
  until(ms: number, signal: AbortSignal, timeoutMs: number): Promise<void> {
    if (ms <= this.playedMs || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        resolve();
      };
      const entry = { ms, resolve: done };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(entry);
    });
  }

  private releaseAll(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) waiter.resolve();
  }
}

/**
 * Where a session's audio goes. The transport declares its format; the session resamples and
 * encodes for it (audio/audio-format.ts) and paces what it writes.
 */
export interface AudioSink {
  readonly format: AudioFormat;
  /** Size of the chunks `write` receives (Twilio expects 20 ms); default 40 ms. */
  readonly frameMs?: number;
  /** A reply's audio begins: the transport tags what it reports with this reply (the session resets `played` to 0). */
  begin(replyId: string): void;
  /** One chunk of encoded audio of the current reply; resolves when the sink can take more. */
  write(chunk: Buffer, durationMs: number, signal: AbortSignal): Promise<void>;
  /** Drops audio queued but not yet played (barge-in): the listener stops hearing the reply now. */
  clear(): void;
  /**
   * After a pause (clear) the reply resumes at `ms`: the next write continues the reply's
   * timeline there (a sink that reports positions reports them from it again).
   */
  rewind?(ms: number): void;
  /**
   * Present when the transport learns what was actually played. The session then paces by it
   * and stores the interrupted reply at that position; without it, the wall clock estimates.
   */
  readonly played?: PlaybackPosition;
}

/** Frame size when a sink does not ask for one. */
export const DEFAULT_FRAME_MS = 40;
