import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { HarkenDatabase } from './tables.js';

export interface Database {
  readonly kysely: Kysely<HarkenDatabase>;
  readonly driver: 'sqlite';
  /** Cheap round-trip used by readiness checks. */
  ping(): Promise<void>;
  /**
   * A number that changes whenever another connection (another process, such as the CLI)
   * commits to the database; this connection's own writes leave it alone. Cheap enough to
   * read on every request: caches use it to see changes made elsewhere.
   */
  externalChangeCounter(): number;
  close(): Promise<void>;
}

export class DatabaseOpenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseOpenError';
  }
}

export interface SqliteOptions {
  readonly path: string;
  readonly busyTimeoutMs: number;
}

/** Opens (creating if needed) the embedded SQLite database in WAL mode. */
export const openSqlite = (options: SqliteOptions): Database => {
  let connection: SqliteDatabase.Database;
  try {
    if (options.path !== ':memory:') {
      mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
      // Conversations hold personal data: create the file owner-only; SQLite gives -wal/-shm the same mode.
      closeSync(openSync(options.path, 'a', 0o600));
    }
    connection = new SqliteDatabase(options.path);
    // WAL lets readers proceed during writes; NORMAL sync is durable across process crashes in WAL mode.
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    connection.pragma('foreign_keys = ON');
    connection.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
  } catch (error) {
    throw new DatabaseOpenError(`cannot open database ${options.path}: ${(error as Error).message}`, { cause: error });
  }
  const kysely = new Kysely<HarkenDatabase>({ dialect: new SqliteDialect({ database: connection }) });
  const dataVersion = connection.prepare('PRAGMA data_version').pluck();
  /** Read once per event-loop turn: requests handled in the same turn share the value. */
  let seenThisTurn: number | undefined;
  let closed = false;
  return {
    kysely,
    driver: 'sqlite',
    async ping() {
      if (closed) throw new Error('database is closed');
      await sql`select 1`.execute(kysely);
    },
    externalChangeCounter() {
      // Closed: a value no cache has seen, so nothing cached is trusted.
      if (closed) return -1;
      if (seenThisTurn === undefined) {
        seenThisTurn = dataVersion.get() as number;
        setImmediate(() => {
          seenThisTurn = undefined;
        }).unref();
      }
      return seenThisTurn;
    },
    async close() {
      if (closed) return;
      closed = true;
      await kysely.destroy();
    },
  };
};
