import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { isFinalStatus, supersedes } from '../calls/call-status.js';
import type { CallEventRow, CallRow, HarkenDatabase } from './tables.js';

export type CallDirection = 'inbound' | 'outbound';

export interface CallEvent {
  readonly at: string;
  readonly source: string;
  readonly status: string | null;
  readonly answeredBy: string | null;
  readonly details: Record<string, unknown> | null;
}

export interface Call {
  readonly id: string;
  readonly callSid: string | null;
  readonly tenant: string;
  readonly direction: CallDirection;
  readonly from: string;
  readonly to: string;
  readonly agent: string;
  readonly status: string;
  readonly answeredBy: string | null;
  readonly conversationId: string | null;
  readonly endReason: string | null;
  readonly error: string | null;
  readonly createdAt: string;
  readonly answeredAt: string | null;
  readonly endedAt: string | null;
  readonly durationS: number | null;
}

export interface NewCall {
  readonly tenant: string;
  readonly callSid?: string;
  readonly direction: CallDirection;
  readonly from: string;
  readonly to: string;
  readonly agent: string;
  readonly status: string;
}

/** One thing that happened to a call; `dedupeKey` makes a retried callback a no-op. */
export interface CallChange {
  readonly source: 'twilio' | 'stream' | 'api' | 'server';
  readonly dedupeKey: string;
  readonly status?: string;
  readonly answeredBy?: string;
  /** Twilio's own duration (CallDuration) wins over ours. */
  readonly durationS?: number;
  readonly callSid?: string;
  readonly conversationId?: string;
  /** The first reason given is kept. */
  readonly endReason?: string;
  readonly error?: string;
  readonly details?: Record<string, unknown>;
}

export interface CallListOptions {
  readonly limit: number;
  readonly tenant?: string;
  readonly before?: { createdAt: string; id: string };
  readonly status?: string;
  readonly direction?: CallDirection;
}

const toCall = (row: CallRow): Call => ({
  id: row.id,
  callSid: row.call_sid,
  tenant: row.tenant,
  direction: row.direction,
  from: row.from_number,
  to: row.to_number,
  agent: row.agent,
  status: row.status,
  answeredBy: row.answered_by,
  conversationId: row.conversation_id,
  endReason: row.end_reason,
  error: row.error,
  createdAt: row.created_at,
  answeredAt: row.answered_at,
  endedAt: row.ended_at,
  durationS: row.duration_s,
});

const toEvent = (row: CallEventRow): CallEvent => ({
  at: row.occurred_at,
  source: row.source,
  status: row.status,
  answeredBy: row.answered_by,
  details: row.details ? (JSON.parse(row.details) as Record<string, unknown>) : null,
});

/** A call with this Twilio call sid is already recorded (a webhook delivered twice, perhaps at once). */
export class DuplicateCallSidError extends Error {
  constructor(readonly callSid: string) {
    super(`call ${callSid} is already recorded`);
  }
}

/** Call records and their event history. Each change is one transaction, deduplicated by key. */
export class CallRepository {
  constructor(private readonly db: Kysely<HarkenDatabase>, private readonly now: () => Date = () => new Date()) {}

  async create(input: NewCall): Promise<Call> {
    const id = randomUUID();
    const timestamp = this.now().toISOString();
    await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('calls')
        .values({
          id,
          tenant: input.tenant,
          call_sid: input.callSid ?? null,
          direction: input.direction,
          from_number: input.from,
          to_number: input.to,
          agent: input.agent,
          status: input.status,
          answered_by: null,
          conversation_id: null,
          end_reason: null,
          error: null,
          created_at: timestamp,
          answered_at: null,
          ended_at: null,
          duration_s: null,
          updated_at: timestamp,
        })
        // Checked by the database, so two servers (or two requests) answering one call cannot both record it.
        .onConflict((conflict) => conflict.column('call_sid').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) throw new DuplicateCallSidError(input.callSid ?? '');
      await trx.insertInto('call_events').values({ call_id: id, occurred_at: timestamp, source: 'server', status: input.status, answered_by: null, details: null, dedupe_key: 'created' }).execute();
    });
    return (await this.find(id)) as Call;
  }

  async find(id: string): Promise<Call | undefined> {
    const row = await this.db.selectFrom('calls').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toCall(row) : undefined;
  }

  async findBySid(callSid: string): Promise<Call | undefined> {
    const row = await this.db.selectFrom('calls').selectAll().where('call_sid', '=', callSid).executeTakeFirst();
    return row ? toCall(row) : undefined;
  }

  async events(callId: string): Promise<CallEvent[]> {
    const rows = await this.db.selectFrom('call_events').selectAll().where('call_id', '=', callId).orderBy('id').execute();
    return rows.map(toEvent);
  }

  async list(options: CallListOptions): Promise<Call[]> {
    let query = this.db.selectFrom('calls').selectAll();
    if (options.tenant !== undefined) query = query.where('tenant', '=', options.tenant);
    if (options.status !== undefined) query = query.where('status', '=', options.status);
    if (options.direction !== undefined) query = query.where('direction', '=', options.direction);
    const before = options.before;
    if (before) {
      query = query.where((eb) => eb.or([eb('created_at', '<', before.createdAt), eb.and([eb('created_at', '=', before.createdAt), eb('id', '<', before.id)])]));
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
    return rows.map(toCall);
  }

  /**
   * Applies one change: stores it in the history and moves the record forward (a status only
   * replaces an earlier one). A change whose dedupe key was seen before changes nothing.
   */
  async apply(callId: string, change: CallChange): Promise<{ call: Call; duplicate: boolean }> {
    const duplicate = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('calls').selectAll().where('id', '=', callId).executeTakeFirst();
      if (!row) throw new Error(`no call ${callId}`);
      const timestamp = this.now().toISOString();
      const inserted = await trx
        .insertInto('call_events')
        .values({
          call_id: callId,
          occurred_at: timestamp,
          source: change.source,
          status: change.status ?? null,
          answered_by: change.answeredBy ?? null,
          details: change.details ? JSON.stringify(change.details) : null,
          dedupe_key: change.dedupeKey,
        })
        .onConflict((conflict) => conflict.columns(['call_id', 'dedupe_key']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) return true;
      const next: Partial<CallRow> = { updated_at: timestamp };
      const status = change.status && supersedes(change.status, row.status) ? change.status : undefined;
      if (status) next.status = status;
      if (status === 'in-progress' && !row.answered_at) next.answered_at = timestamp;
      if (status && isFinalStatus(status) && !row.ended_at) {
        next.ended_at = timestamp;
        if (row.answered_at && change.durationS === undefined) next.duration_s = Math.round((Date.parse(timestamp) - Date.parse(row.answered_at)) / 1000);
      }
      if (change.durationS !== undefined) next.duration_s = change.durationS;
      if (change.answeredBy) next.answered_by = change.answeredBy;
      if (change.callSid && !row.call_sid) next.call_sid = change.callSid;
      if (change.conversationId) next.conversation_id = change.conversationId;
      if (change.endReason && !row.end_reason) next.end_reason = change.endReason;
      if (change.error) next.error = change.error;
      await trx.updateTable('calls').set(next).where('id', '=', callId).execute();
      return false;
    });
    return { call: (await this.find(callId)) as Call, duplicate };
  }

  /** Erases calls that ended (or were created) before the cutoff, with their history. */
  async purgeCreatedBefore(cutoff: Date): Promise<number> {
    const result = await this.db.deleteFrom('calls').where('created_at', '<', cutoff.toISOString()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
