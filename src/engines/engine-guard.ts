import { performance } from 'node:perf_hooks';
import { EngineBusyError, EngineError, EngineTimeoutError } from './engine-errors.js';
import type { CallOutcome, EngineMetrics } from './engine-metrics.js';

/** Timeouts in a row after which an engine counts as hung (readiness fails, so a supervisor can restart)… */
export const UNHEALTHY_AFTER_TIMEOUTS = 3;
/** …until this long after the last one (it recovers by itself: no caller can hold readiness down). */
export const HEALTH_RECOVERY_MS = 30_000;

export interface EngineGuardOptions {
  /** The engine's name, in errors and health reports. */
  readonly engine: string;
  /** Time limit of one attempt on an input of no size. */
  readonly timeoutMs: number;
  /** Extra time per unit of input (a character of text, a second of audio): limits scale with the input. */
  readonly perUnitMs: number;
  /** Extra attempts after a failure (never after a timeout or an abort). */
  readonly retries: number;
  /** Calls running at once (processes, native decodes); 0 = no limit. */
  readonly maxConcurrent: number;
  /** Calls waiting for a slot beyond which a new call is refused with EngineBusyError. */
  readonly maxQueued: number;
  /** This many timeouts in a row make the engine unhealthy (readiness fails)… */
  readonly unhealthyAfterTimeouts: number;
  /** …until this long after the last one: no caller can hold readiness down for good. */
  readonly healthRecoveryMs: number;
  readonly metrics: EngineMetrics;
  readonly now?: () => number;
}

export interface GuardedCall {
  /** How big the input is, in the unit `perUnitMs` is given for. */
  readonly units: number;
  readonly signal?: AbortSignal;
  /** A streamed utterance cannot be replayed: no retry. */
  readonly retry?: boolean;
  /** Streaming work already runs per session: it takes no slot. */
  readonly slot?: boolean;
  /** What did not finish, for the timeout message ("a sentence", "a transcription"). */
  readonly what: string;
}

/** Marks the timeout of this attempt's own deadline, as opposed to an abort that carries one. */
class OwnDeadline {
  constructor(readonly timeout: EngineTimeoutError) {}
}

const abortReason = (signal: AbortSignal): Error => (signal.reason instanceof Error ? signal.reason : new Error('This operation was aborted'));

/**
 * The one guard every engine call goes through (recognition, synthesis, detection, the LLM
 * chain): a concurrency limit with a bounded, cancellable queue; a time limit per attempt that
 * grows with the input and, when it passes, aborts the work itself (the engine kills its
 * process or stops its decode) rather than only rejecting a promise; retries in one place;
 * health that a caller cannot hold down; and per-stage statistics.
 */
export class EngineGuard {
  private running = 0;
  private readonly waiting: Array<{ start: () => void }> = [];
  private timeoutsInARow = 0;
  private lastTimeoutAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly options: EngineGuardOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Calls running now and waiting for a slot (for health views and tests). */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Throws while the engine counts as hung. */
  check(): void {
    const { unhealthyAfterTimeouts, healthRecoveryMs, engine } = this.options;
    if (this.timeoutsInARow < unhealthyAfterTimeouts) return;
    const sinceMs = this.now() - this.lastTimeoutAt;
    if (sinceMs >= healthRecoveryMs) return;
    throw new Error(`${engine} timed out ${this.timeoutsInARow} times in a row (last ${Math.round(sinceMs / 1000)} s ago; counts as recovered ${Math.round(healthRecoveryMs / 1000)} s after the last)`);
  }

  timeLimitMs(units: number): number {
    return Math.round(this.options.timeoutMs + this.options.perUnitMs * Math.max(0, units));
  }

  async run<T>(stage: string, call: GuardedCall, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const release = call.slot === false ? () => undefined : await this.acquire(stage, call.signal);
    // The slot is held until the work itself has stopped, not just until the caller was answered.
    let workSettled: Promise<unknown> = Promise.resolve();
    try {
      for (let attempt = 0; ; attempt += 1) {
        call.signal?.throwIfAborted();
        const started = performance.now();
        try {
          const running = this.attempt(call, work);
          workSettled = running.settled;
          const result = await running.result;
          this.succeeded(stage, started);
          return result;
        } catch (error) {
          if (error instanceof OwnDeadline) {
            this.timedOut(stage, started);
            throw error.timeout;
          }
          this.record(stage, call.signal?.aborted ? 'cancelled' : 'failure', started);
          if (call.signal?.aborted) throw error;
          const retryable = !(error instanceof EngineError) || error.retryable;
          if (call.retry === false || !retryable || attempt >= this.options.retries) throw error;
          this.options.metrics.recordRetry(stage, this.options.engine);
        }
      }
    } finally {
      void workSettled.then(release, release);
    }
  }

  /**
   * A stream (the LLM chain's reply) under the same slot and time limit: the limit covers the
   * whole stream and, when it passes, aborts it; no retry (providers retry before streaming).
   */
  async *stream<T>(stage: string, call: GuardedCall, work: (signal: AbortSignal) => AsyncIterable<T>): AsyncGenerator<T> {
    const release = call.slot === false ? () => undefined : await this.acquire(stage, call.signal);
    const limitMs = this.timeLimitMs(call.units);
    const deadline = new AbortController();
    // Answers the consumer at the deadline even when the work ignores its aborted signal.
    const passed = new Promise<never>((_, reject) => deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason), { once: true }));
    passed.catch(() => undefined);
    const timer = setTimeout(() => deadline.abort(new EngineTimeoutError(this.options.engine, call.what, limitMs)), limitMs);
    const signal = call.signal ? AbortSignal.any([call.signal, deadline.signal]) : deadline.signal;
    const started = performance.now();
    const iterator = work(signal)[Symbol.asyncIterator]();
    let ended = false;
    try {
      for (;;) {
        const next = await Promise.race([iterator.next(), passed]);
        if (next.done) break;
        yield next.value;
      }
      ended = true;
      // A stream that went quiet because its caller aborted was cancelled, not a success.
      this.record(stage, call.signal?.aborted ? 'cancelled' : 'ok', started);
      if (!call.signal?.aborted) this.timeoutsInARow = 0;
    } catch (error) {
      ended = true;
      if (deadline.signal.aborted) {
        this.timedOut(stage, started);
        throw deadline.signal.reason as EngineTimeoutError;
      }
      this.record(stage, call.signal?.aborted ? 'cancelled' : 'failure', started);
      throw error;
    } finally {
      // The consumer stopped reading (an interruption): the stream was cancelled.
      if (!ended) this.record(stage, 'cancelled', started);
      clearTimeout(timer);
      if (!deadline.signal.aborted) deadline.abort(new Error('stream finished'));
      void iterator.return?.().catch(() => undefined);
      release();
    }
  }

  /**
   * Synchronous native work too small to queue (a voice detector's frame): measured and
   * counted like the rest; a call slower than the time limit counts as a timeout for health.
   */
  measure<T>(stage: string, units: number, work: () => T): T {
    const started = performance.now();
    let result: T;
    try {
      result = work();
    } catch (error) {
      // Synchronous native work that throws is broken, not busy: it counts toward health like a timeout.
      this.timedOut(stage, started, 'failure');
      throw error;
    }
    if (performance.now() - started > this.timeLimitMs(units)) this.timedOut(stage, started);
    else this.succeeded(stage, started);
    return result;
  }

  private record(stage: string, outcome: CallOutcome, started: number): void {
    this.options.metrics.recordCall(stage, this.options.engine, outcome, performance.now() - started);
  }

  private succeeded(stage: string, started: number): void {
    this.record(stage, 'ok', started);
    this.timeoutsInARow = 0;
  }

  private timedOut(stage: string, started: number, outcome: CallOutcome = 'timeout'): void {
    this.record(stage, outcome, started);
    // A timeout long after the last one starts a new count: the engine had recovered.
    if (this.now() - this.lastTimeoutAt >= this.options.healthRecoveryMs) this.timeoutsInARow = 0;
    this.timeoutsInARow += 1;
    this.lastTimeoutAt = this.now();
  }

  /**
   * One attempt under its time limit; when it passes, the work's signal is aborted with the
   * timeout. `result` answers the caller at once (timeout or abort); `settled` is when the work
   * itself has stopped. Only this attempt's own deadline counts as a timeout: a sibling's or a
   * caller's abort carrying a timeout error does not.
   */
  private attempt<T>(call: GuardedCall, work: (signal: AbortSignal) => Promise<T>): { result: Promise<T>; settled: Promise<unknown> } {
    const limitMs = this.timeLimitMs(call.units);
    const deadline = new AbortController();
    const signal = call.signal ? AbortSignal.any([call.signal, deadline.signal]) : deadline.signal;
    let timer: NodeJS.Timeout | undefined;
    const working = work(signal);
    const settled = working.then(
      () => undefined,
      () => undefined,
    );
    const result = new Promise<T>((resolve, reject) => {
      timer = setTimeout(() => {
        const timeout = new EngineTimeoutError(this.options.engine, call.what, limitMs);
        deadline.abort(timeout);
        reject(new OwnDeadline(timeout));
      }, limitMs);
      const onAbort = () => {
        clearTimeout(timer);
        reject(deadline.signal.aborted ? new OwnDeadline(deadline.signal.reason as EngineTimeoutError) : abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      working.then(
        (value) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          reject(deadline.signal.aborted ? new OwnDeadline(deadline.signal.reason as EngineTimeoutError) : signal.aborted ? abortReason(signal) : error);
        },
      );
    });
    return { result, settled };
  }

  private async acquire(stage: string, signal: AbortSignal | undefined): Promise<() => void> {
    signal?.throwIfAborted();
    const { maxConcurrent, maxQueued, engine } = this.options;
    const release = () => {
      this.running -= 1;
      this.waiting.shift()?.start();
    };
    if (maxConcurrent === 0 || this.running < maxConcurrent) {
      this.running += 1;
      return release;
    }
    if (this.waiting.length >= maxQueued) {
      this.options.metrics.recordCall(stage, engine, 'busy');
      throw new EngineBusyError(engine, this.waiting.length);
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.running += 1;
          resolve();
        },
      };
      // A cancelled wait leaves the queue at once: its work never starts.
      const onAbort = () => {
        const index = this.waiting.indexOf(entry);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
    return release;
  }
}
