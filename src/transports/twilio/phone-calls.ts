import type { TwilioConnection } from './twilio-connection.js';

const VERDICTS_KEPT_MS = 10 * 60_000;

interface Verdict {
  answeredBy?: string;
  readonly waiters: Array<(answeredBy: string | undefined) => void>;
  readonly expiresAt: number;
}

/**
 * Calls in progress on this server: counted against twilio.maxConcurrentCalls (with the calls
 * answered or placed whose stream has not started yet), found by call sid for hang-ups and
 * answering-machine verdicts, and ended together at shutdown.
 */
export class PhoneCalls {
  private readonly open = new Set<TwilioConnection>();
  private readonly bySid = new Map<string, TwilioConnection>();
  /** Answered or placed calls whose stream has not started (by stream token): they hold a place until it does or the token expires. */
  private readonly reserved = new Map<string, NodeJS.Timeout>();
  /** Twilio's answering-machine verdicts, which may arrive before or after the stream starts. */
  private readonly verdicts = new Map<string, Verdict>();
  private readonly apiHangups = new Set<string>();

  get size(): number {
    return this.open.size + this.reserved.size;
  }

  get reservedCount(): number {
    return this.reserved.size;
  }

  /** Holds a place for `ttlMs` under `key`; `onExpire` runs if it is still held then (the stream never came). */
  reserve(key: string, ttlMs: number, onExpire?: () => void): void {
    clearTimeout(this.reserved.get(key));
    const timer = setTimeout(() => {
      this.reserved.delete(key);
      onExpire?.();
    }, ttlMs);
    timer.unref();
    this.reserved.set(key, timer);
  }

  isReserved(key: string): boolean {
    return this.reserved.has(key);
  }

  /** A hang-up asked of Twilio through the API: when its stream then stops, that is why. */
  hangingUpByApi(callSid: string, asked: boolean): void {
    if (asked) this.apiHangups.add(callSid);
    else this.apiHangups.delete(callSid);
  }

  wasHungUpByApi(callSid: string): boolean {
    return this.apiHangups.has(callSid);
  }

  unreserve(token: string): void {
    clearTimeout(this.reserved.get(token));
    this.reserved.delete(token);
  }

  add(connection: TwilioConnection, callSid: string): void {
    this.open.add(connection);
    this.bySid.set(callSid, connection);
  }

  remove(connection: TwilioConnection): void {
    this.open.delete(connection);
    for (const [sid, open] of this.bySid) {
      if (open !== connection) continue;
      this.bySid.delete(sid);
      this.apiHangups.delete(sid);
    }
  }

  connection(callSid: string): TwilioConnection | undefined {
    return this.bySid.get(callSid);
  }

  /** Records Twilio's AMD verdict for a call and wakes whoever waits for it. */
  machineVerdict(callSid: string, answeredBy: string): void {
    this.sweep();
    const verdict = this.verdicts.get(callSid) ?? { waiters: [], expiresAt: Date.now() + VERDICTS_KEPT_MS };
    if (verdict.answeredBy) return;
    verdict.answeredBy = answeredBy;
    this.verdicts.set(callSid, verdict);
    for (const wake of verdict.waiters.splice(0)) wake(answeredBy);
  }

  /** The AMD verdict for a call, as soon as it is known; undefined after `timeoutMs` or on abort. */
  awaitVerdict(callSid: string, timeoutMs: number, signal: AbortSignal): Promise<string | undefined> {
    this.sweep();
    const verdict = this.verdicts.get(callSid) ?? { waiters: [], expiresAt: Date.now() + VERDICTS_KEPT_MS };
    this.verdicts.set(callSid, verdict);
    if (verdict.answeredBy) return Promise.resolve(verdict.answeredBy);
    return new Promise((resolve) => {
      const done = (answeredBy: string | undefined) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', aborted);
        resolve(answeredBy);
      };
      const aborted = () => {
        const index = verdict.waiters.indexOf(done);
        if (index >= 0) verdict.waiters.splice(index, 1);
        done(undefined);
      };
      const timer = setTimeout(aborted, timeoutMs);
      timer.unref();
      signal.addEventListener('abort', aborted, { once: true });
      verdict.waiters.push(done);
    });
  }

  /** Shutdown: each call finishes the reply under way (at most `timeoutMs`), stores what it holds and ends. */
  async drainAll(timeoutMs: number): Promise<void> {
    await Promise.all([...this.open].map(async (connection) => {
      await connection.drain(timeoutMs);
      await connection.finished;
    }));
  }

  /** Ends every call and waits (bounded) until their sessions have stored what they hold. */
  async closeAll(reason: string, waitMs = 5_000): Promise<void> {
    const ending = [...this.open].map((connection) => {
      connection.close(1001, reason);
      return connection.finished;
    });
    await Promise.race([Promise.all(ending), new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [sid, verdict] of this.verdicts) if (verdict.expiresAt < now && verdict.waiters.length === 0) this.verdicts.delete(sid);
  }
}
