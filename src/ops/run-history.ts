import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { HarkenDatabase } from '../store/tables.js';
import { processCommandLine } from './processes.js';

/**
 * How a run of the server ended. `unknown`: it left no word — killed (SIGKILL, the kernel's
 * OOM killer), power lost, or a native crash that took the process before it could write.
 */
export type RunEndReason = 'shutdown' | 'crash' | 'memory' | 'unknown';

export interface RunRecord {
  readonly id: string;
  readonly pid: number;
  readonly version: string;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly endReason?: RunEndReason;
  /** The signal of a shutdown, the error of a crash, the figure of a memory restart. */
  readonly endDetail?: string;
}

export interface PastRun {
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly endReason: RunEndReason;
  readonly endDetail: string | null;
}

const HOUR_MS = 3_600_000;
const DETAIL_MAX = 300;

/** The run file as written; anything unreadable counts as no file. */
const readRunFile = (file: string): RunRecord | undefined => {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<RunRecord>;
    if (typeof value.id !== 'string' || typeof value.pid !== 'number' || typeof value.startedAt !== 'string') return undefined;
    return value as RunRecord;
  } catch {
    return undefined;
  }
};

/** A run whose file names a live Harken process other than this one: the data directory is in use. */
export const liveServerHolding = (file: string): RunRecord | undefined => {
  const run = readRunFile(file);
  if (!run || run.endedAt || run.pid === process.pid) return undefined;
  const command = processCommandLine(run.pid);
  return command !== undefined && /harken|node/.test(command) ? run : undefined;
};

/**
 * Restart tracking. Each start reads how the previous run ended from `<data.dir>/server.run`
 * (written synchronously at the end, so a crash handler can write it too), keeps the history in
 * the database, and counts the starts of the last hour: a restart loop is visible at once.
 */
export class RunHistory {
  private ended = false;

  private constructor(
    private readonly file: string,
    private readonly kysely: Kysely<HarkenDatabase>,
    readonly current: RunRecord,
    /** How the run before this one ended; undefined on a first start. */
    readonly previous: PastRun | undefined,
    private readonly logger: Logger,
    private readonly now: () => Date,
  ) {}

  /** Records this start. Never fails the start: a full disk or a read-only file only costs the history. */
  static async begin(options: { file: string; kysely: Kysely<HarkenDatabase>; version: string; logger: Logger; now?: () => Date }): Promise<RunHistory> {
    const now = options.now ?? (() => new Date());
    const last = readRunFile(options.file);
    const previous: PastRun | undefined = last
      ? { startedAt: last.startedAt, endedAt: last.endedAt ?? null, endReason: last.endReason ?? 'unknown', endDetail: last.endDetail ?? null }
      : undefined;
    const current: RunRecord = { id: randomUUID(), pid: process.pid, version: options.version, startedAt: now().toISOString() };
    const history = new RunHistory(options.file, options.kysely, current, previous, options.logger, now);
    history.write(current);
    try {
      await options.kysely.transaction().execute(async (trx) => {
        if (last && previous) {
          await trx
            .updateTable('server_runs')
            .set({ ended_at: previous.endedAt, end_reason: previous.endReason, end_detail: previous.endDetail })
            .where('id', '=', last.id)
            .where('end_reason', 'is', null)
            .execute();
        }
        // Any other run still open left no file behind (the file was lost or replaced): it vanished.
        await trx.updateTable('server_runs').set({ end_reason: 'unknown' }).where('end_reason', 'is', null).execute();
        await trx.insertInto('server_runs').values({ id: current.id, pid: current.pid, version: current.version, started_at: current.startedAt, ended_at: null, end_reason: null, end_detail: null }).execute();
      });
    } catch (error) {
      options.logger.warn({ err: error }, 'could not record this start in the run history');
    }
    return history;
  }

  /** Starts in the last hour before this one. */
  async restartsInLastHour(): Promise<number> {
    const since = new Date(this.now().getTime() - HOUR_MS).toISOString();
    const row = await this.kysely
      .selectFrom('server_runs')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('started_at', '>=', since)
      .where('id', '!=', this.current.id)
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  /** When each run started since `since`, this one included, newest first. */
  async startsSince(since: Date): Promise<string[]> {
    const rows = await this.kysely.selectFrom('server_runs').select('started_at').where('started_at', '>=', since.toISOString()).orderBy('started_at', 'desc').execute();
    return rows.map((row) => row.started_at);
  }

  /** The latest runs before this one, newest first. */
  async recent(limit: number): Promise<PastRun[]> {
    const rows = await this.kysely.selectFrom('server_runs').selectAll().where('id', '!=', this.current.id).orderBy('started_at', 'desc').limit(limit).execute();
    return rows.map((row) => ({ startedAt: row.started_at, endedAt: row.ended_at, endReason: (row.end_reason ?? 'unknown') as RunEndReason, endDetail: row.end_detail }));
  }

  /**
   * Says how this run ends. Synchronous (a crash handler has no event loop left to wait on);
   * the first reason given wins. The database learns it at the next start, or from `close()`.
   */
  end(reason: RunEndReason, detail?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.write({ ...this.current, endedAt: this.now().toISOString(), endReason: reason, ...(detail ? { endDetail: detail.slice(0, DETAIL_MAX) } : {}) });
  }

  /** At a clean stop, with the database still open: the history is complete without waiting for the next start. */
  async close(): Promise<void> {
    const run = readRunFile(this.file);
    if (!run?.endReason || run.id !== this.current.id) return;
    try {
      await this.kysely
        .updateTable('server_runs')
        .set({ ended_at: run.endedAt ?? null, end_reason: run.endReason, end_detail: run.endDetail ?? null })
        .where('id', '=', this.current.id)
        .execute();
    } catch (error) {
      this.logger.warn({ err: error }, 'could not record this stop in the run history');
    }
  }

  private write(run: RunRecord): void {
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, `${JSON.stringify(run)}\n`, { mode: 0o600 });
      renameSync(temporary, this.file);
    } catch (error) {
      this.logger.warn({ err: error, file: this.file }, 'could not write the run file');
    }
  }
}
