import { randomBytes } from 'node:crypto';

const ANSWERED_KEPT_MS = 6 * 3_600_000;
const MAX_ANSWERED = 100_000;

export interface StreamGrant {
  /** Inbound calls: known when the token is issued. Outbound: bound once Twilio accepted the call. */
  readonly callSid?: string;
  /** The call record. */
  readonly callId: string;
  readonly tenant: string;
  readonly agent: string;
  readonly from: string;
  readonly to: string;
  readonly direction: 'inbound' | 'outbound';
  /** Outbound with answering-machine detection: the agent waits for Twilio's verdict. */
  readonly machineDetection?: boolean;
  readonly voicemailMessage?: string;
}

/**
 * One-time tokens that tie a media stream to the call Harken answered or placed: the TwiML
 * carries one as a `<Parameter>`, the stream's `start` must bring it back, once, for the same
 * call, before it expires. Kept in this process (Twilio connects the stream to the server that
 * answered the webhook only when one process serves both; behind several, use sticky routing).
 */
export class StreamTokens {
  private readonly grants = new Map<string, StreamGrant & { expiresAt: number }>();
  /** Calls already answered: a replayed webhook gets no second token (kept for hours, bounded). */
  private readonly answered = new Map<string, number>();
  /** Streams of outbound calls that started before Twilio's answer to the create bound their token. */
  private readonly bindWaiters = new Map<string, Array<() => void>>();

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /** A new token, or undefined when this call was answered before (a replayed webhook). */
  issue(grant: StreamGrant, ttlMs = this.ttlMs): string | undefined {
    this.sweep();
    if (grant.callSid) {
      if (this.answered.has(grant.callSid)) return undefined;
      this.answered.set(grant.callSid, this.now() + ANSWERED_KEPT_MS);
      if (this.answered.size > MAX_ANSWERED) this.answered.delete(this.answered.keys().next().value as string);
    }
    const token = randomBytes(24).toString('base64url');
    this.grants.set(token, { ...grant, expiresAt: this.now() + ttlMs });
    return token;
  }

  /** Ties an outbound call's token to the call Twilio created (its stream must then be that call's). */
  bind(token: string, callSid: string): void {
    const grant = this.grants.get(token);
    if (grant && !grant.callSid) this.grants.set(token, { ...grant, callSid });
    this.wakeBindWaiters(token);
  }

  revoke(token: string): void {
    this.grants.delete(token);
    this.wakeBindWaiters(token);
  }

  /**
   * Resolves once the token is bound to its call (or gone), at most after `timeoutMs`. A callee
   * can pick up and the stream start before Twilio's answer to the create has reached us.
   */
  whenBound(token: string, timeoutMs: number): Promise<void> {
    const grant = this.grants.get(token);
    if (!grant || grant.callSid) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      const waiters = this.bindWaiters.get(token) ?? [];
      waiters.push(done);
      this.bindWaiters.set(token, waiters);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /**
   * The grant, removed so it cannot be replayed; none when unknown, used, expired or for
   * another call (then `burnt` is the call the token was for, if it was one). Any attempt uses the token up (fail closed: someone holding a leaked TwiML gets one try).
   */
  consume(token: string, callSid: string): { readonly granted?: StreamGrant; readonly burnt?: StreamGrant } {
    const grant = this.grants.get(token);
    if (!grant) return {};
    this.grants.delete(token);
    const { expiresAt, ...rest } = grant;
    // Refused, the token is still known to be that call's: its record can be closed.
    if (expiresAt < this.now() || !grant.callSid || grant.callSid !== callSid) return { burnt: rest };
    return { granted: rest };
  }

  private wakeBindWaiters(token: string): void {
    const waiters = this.bindWaiters.get(token);
    this.bindWaiters.delete(token);
    for (const wake of waiters ?? []) wake();
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, grant] of this.grants) if (grant.expiresAt < now) this.grants.delete(token);
    for (const token of [...this.bindWaiters.keys()]) if (!this.grants.has(token)) this.wakeBindWaiters(token);
    for (const [callSid, until] of this.answered) {
      if (until >= now) break; // insertion order is expiry order
      this.answered.delete(callSid);
    }
  }
}
