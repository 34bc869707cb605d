import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AuditEventRow, HarkenDatabase } from '../store/tables.js';
import { maskIp } from './ip-mask.js';
import { isStorageFull } from '../store/database.js';

/** Everything the audit log records; names are stable (filters and dashboards use them). */
export type AuditAction =
  | 'server.started'
  | 'server.restart_loop'
  | 'server.memory_warning'
  | 'server.memory_critical'
  | 'security.auth_failures'
  | 'admin.created'
  | 'auth.login'
  | 'auth.logout'
  | 'auth.locked'
  | 'auth.denied'
  | 'auth.forbidden'
  | 'key.created'
  | 'key.revoked'
  | 'service_account.created'
  | 'service_account.rotated'
  | 'service_account.disabled'
  | 'token.issued'
  | 'rate_limit.hit'
  | 'session.refused'
  | 'session.started'
  | 'session.ended'
  | 'session.closed_revoked'
  | 'conversation.deleted'
  | 'conversation.exported'
  | 'conversations.purged'
  | 'origin.refused'
  | 'admin.updated'
  | 'admin.deleted'
  | 'admin.password_changed'
  | 'admin.sessions_revoked'
  | 'admin.totp_enabled'
  | 'admin.totp_disabled'
  | 'auth.recovery_code_used'
  | 'quota.exhausted'
  | 'twilio.webhook_refused'
  | 'twilio.call_rejected'
  | 'twilio.callback_refused'
  | 'call.placed'
  | 'call.hung_up'
  | 'calls.purged'
  | 'config.changed'
  | 'twilio.stream_refused';

export interface AuditEvent {
  readonly action: AuditAction;
  readonly outcome: 'success' | 'failure';
  /** `admin:<name>`, `key:<id>`, `service-account:<id>`, `anonymous`. */
  readonly actor?: string;
  readonly target?: string;
  /** The raw client address; it is masked before it is stored. */
  readonly ip?: string;
  /** Non-secret context (reason, scope, route). */
  readonly details?: Record<string, unknown>;
}

export interface AuditEventView {
  readonly id: number;
  readonly occurredAt: string;
  readonly action: string;
  readonly outcome: string;
  readonly actor: string | null;
  readonly target: string | null;
  readonly ip: string | null;
  readonly details: Record<string, unknown> | null;
}

export interface AuditQuery {
  readonly action?: string;
  readonly actor?: string;
  readonly outcome?: string;
  readonly since?: string;
  readonly until?: string;
  /** Events with ids below this (the previous page's nextCursor). */
  readonly before?: number;
  readonly limit: number;
}

const toView = (row: AuditEventRow): AuditEventView => ({
  id: row.id,
  occurredAt: row.occurred_at,
  action: row.action,
  outcome: row.outcome,
  actor: row.actor,
  target: row.target,
  ip: row.ip,
  details: row.details ? (JSON.parse(row.details) as Record<string, unknown>) : null,
});

/**
 * Security events in the database (and a log line each). Writing never fails the request
 * that caused it: a failed write is logged as an error.
 */
export class AuditLog {
  private readonly listeners: Array<(event: AuditEvent) => void> = [];

  constructor(private readonly db: Kysely<HarkenDatabase>, private readonly logger: Logger, private readonly now: () => Date = () => new Date()) {}

  /** Told of every event as it is recorded (the admins' live feed, the auth-failure watch). */
  tap(listener: (event: AuditEvent) => void): void {
    this.listeners.push(listener);
  }

  async record(event: AuditEvent): Promise<void> {
    const ip = maskIp(event.ip);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error, action: event.action }, 'audit listener failed');
      }
    }
    this.logger.info({ audit: { action: event.action, outcome: event.outcome, actor: event.actor ?? null, target: event.target ?? null, ip, ...event.details } }, 'audit');
    try {
      await this.db
        .insertInto('audit_events')
        .values({
          occurred_at: this.now().toISOString(),
          action: event.action,
          outcome: event.outcome,
          actor: event.actor ?? null,
          target: event.target ?? null,
          ip,
          details: event.details ? JSON.stringify(event.details) : null,
        })
        .execute();
    } catch (error) {
      // The event is in the log line above either way; a full disk needs no stack per event.
      if (isStorageFull(error)) this.logger.error({ storageError: (error as Error).message, action: event.action }, 'audit event could not be stored: the data volume is full');
      else this.logger.error({ err: error, action: event.action }, 'audit event could not be stored');
    }
  }

  /** Newest first, paged by id. */
  async query(query: AuditQuery): Promise<{ events: AuditEventView[]; nextCursor: number | null }> {
    let select = this.db.selectFrom('audit_events').selectAll();
    if (query.action) select = query.action.endsWith('.*') ? select.where('action', 'like', `${query.action.slice(0, -1)}%`) : select.where('action', '=', query.action);
    if (query.actor) select = select.where('actor', '=', query.actor);
    if (query.outcome) select = select.where('outcome', '=', query.outcome);
    if (query.since) select = select.where('occurred_at', '>=', query.since);
    if (query.until) select = select.where('occurred_at', '<', query.until);
    if (query.before !== undefined) select = select.where('id', '<', query.before);
    const rows = await select.orderBy('id', 'desc').limit(query.limit + 1).execute();
    const page = rows.slice(0, query.limit);
    return { events: page.map(toView), nextCursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null };
  }

  /** Deletes events older than the retention period; returns how many. */
  async purge(retentionDays: number): Promise<number> {
    const cutoff = new Date(this.now().getTime() - retentionDays * 86_400_000).toISOString();
    const result = await this.db.deleteFrom('audit_events').where('occurred_at', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
