import type { AuditEvent } from './audit-log.js';
import { limitKeyOf, maskIp } from './ip-mask.js';

export interface AuthFailureAlert {
  /** `address` (IPv6 by /64) or `account` (the key, service account or admin attacked). */
  readonly kind: 'address' | 'account';
  /** `ip:<address, masked as in every log>` or the account's label (`key:<id>`, `admin:<username>`). */
  readonly subject: string;
  readonly failures: number;
  readonly windowMinutes: number;
}

/** Subjects followed at once; beyond it the oldest is forgotten (a flood of addresses cannot grow memory). */
const MAX_SUBJECTS = 10_000;

/** Who an audit event names as the source or target of a failed authentication. */
type Subject = { readonly kind: AuthFailureAlert['kind']; readonly key: string; readonly shown: string };

const subjectsOf = (event: AuditEvent): Subject[] => {
  const failed = event.outcome === 'failure' && (event.action === 'auth.denied' || event.action === 'auth.login');
  if (!failed) return [];
  const subjects: Subject[] = [];
  // Counted per address (IPv6 by /64), reported masked like every address in the logs.
  if (event.ip) subjects.push({ kind: 'address', key: `ip:${limitKeyOf(event.ip)}`, shown: `ip:${maskIp(event.ip) ?? 'unknown'}` });
  // `unknown` and `anonymous` name nobody: no account to protect.
  if (event.actor && event.actor !== 'unknown' && event.actor !== 'anonymous') subjects.push({ kind: 'account', key: event.actor, shown: event.actor });
  return subjects;
};

/**
 * Flags authentication-failure patterns: more than `threshold` refused credentials or failed
 * logins from one address, or against one account, within the window. One alert per subject and
 * window, fed from the audit log.
 */
export class AuthFailureWatch {
  /** Failure times per subject (at most threshold + 1 kept), and when its last alert was. */
  private readonly seen = new Map<string, { times: number[]; alertedAt?: number }>();
  private readonly windowMs: number;

  constructor(
    private readonly options: { readonly threshold: number; readonly windowMinutes: number },
    private readonly onAlert: (alert: AuthFailureAlert) => void,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.windowMs = options.windowMinutes * 60_000;
  }

  observe(event: AuditEvent): void {
    const now = this.nowMs();
    for (const { kind, key, shown } of subjectsOf(event)) {
      let entry = this.seen.get(key);
      if (!entry) {
        if (this.seen.size >= MAX_SUBJECTS) this.seen.delete(this.seen.keys().next().value as string);
        entry = { times: [] };
        this.seen.set(key, entry);
      }
      entry.times = entry.times.filter((time) => now - time < this.windowMs);
      entry.times.push(now);
      if (entry.times.length > this.options.threshold + 1) entry.times.shift();
      const quiet = entry.alertedAt === undefined || now - entry.alertedAt >= this.windowMs;
      if (entry.times.length > this.options.threshold && quiet) {
        entry.alertedAt = now;
        this.onAlert({ kind, subject: shown, failures: entry.times.length, windowMinutes: this.options.windowMinutes });
      }
    }
  }
}
