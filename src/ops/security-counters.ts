import type { AuditEvent } from '../security/audit-log.js';

/** What the admin health view counts. */
export type SecurityCounter = 'authFailures' | 'loginFailures' | 'lockouts' | 'forbidden' | 'limitRefusals' | 'sessionRefusals' | 'alerts';

const COUNTERS: readonly SecurityCounter[] = ['authFailures', 'loginFailures', 'lockouts', 'forbidden', 'limitRefusals', 'sessionRefusals', 'alerts'];

const counterOf = (event: AuditEvent): SecurityCounter | undefined => {
  if (event.action === 'auth.denied') return 'authFailures';
  if (event.action === 'auth.login' && event.outcome === 'failure') return 'loginFailures';
  if (event.action === 'auth.locked') return 'lockouts';
  if (event.action === 'auth.forbidden') return 'forbidden';
  if (event.action === 'session.refused') return 'sessionRefusals';
  if (event.action === 'security.auth_failures') return 'alerts';
  return undefined;
};

/**
 * Security events of the last `windowMinutes`, counted in one-minute buckets (fixed memory,
 * whatever the traffic): refused credentials, failed logins, lockouts, wrong scopes, rate-limit
 * refusals, refused sessions and raised alerts. Fed from the audit log and the limiter.
 */
export class SecurityCounters {
  private readonly buckets: Array<{ minute: number; counts: Record<SecurityCounter, number> }> = [];

  constructor(
    readonly windowMinutes = 15,
    private readonly nowMs: () => number = Date.now,
  ) {}

  observe(event: AuditEvent): void {
    const counter = counterOf(event);
    if (counter) this.count(counter);
  }

  count(counter: SecurityCounter): void {
    const minute = Math.floor(this.nowMs() / 60_000);
    let bucket = this.buckets.at(-1);
    if (!bucket || bucket.minute !== minute) {
      bucket = { minute, counts: Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Record<SecurityCounter, number> };
      this.buckets.push(bucket);
      this.prune(minute);
    }
    bucket.counts[counter] += 1;
  }

  /** Totals over the window. */
  totals(): Record<SecurityCounter, number> {
    const minute = Math.floor(this.nowMs() / 60_000);
    this.prune(minute);
    const totals = Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Record<SecurityCounter, number>;
    for (const bucket of this.buckets) for (const name of COUNTERS) totals[name] += bucket.counts[name];
    return totals;
  }

  private prune(minute: number): void {
    while (this.buckets.length > 0 && (this.buckets[0] as { minute: number }).minute <= minute - this.windowMinutes) this.buckets.shift();
  }
}
