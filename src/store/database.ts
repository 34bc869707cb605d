import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { statfsSync } from 'node:fs';
import { Kysely, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver } from 'kysely';
import type { HarkenDatabase } from './tables.js';

export interface Database {
  readonly kysely: Kysely<HarkenDatabase>;
  readonly driver: 'sqlite';
  /** Cheap round-trip used by readiness checks. */
  ping(): Promise<void>;
  /**
   * Proves the database can still commit (a one-row write) and that its volume has at least
   * `minFreeMb` free; throws a StorageFullError saying which failed.
   */
  probeWrite(minFreeMb: number): Promise<void>;
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

/** The data volume is full: nothing was written. Requests that write answer 507 `storage_full`. */
export class StorageFullError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StorageFullError';
  }
}

/** SQLite's "database or disk is full" (and the I/O error a full volume gives while growing the WAL). */
export const isStorageFull = (error: unknown): boolean => {
  if (error instanceof StorageFullError) return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE' || code === 'SQLITE_IOERR_SHMSIZE' || (error as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC';
};

/**
 * After SQLITE_FULL (and some I/O errors) SQLite has already rolled the transaction back; a
 * second ROLLBACK then fails with "cannot rollback - no transaction is active", and Kysely would
 * report that instead of the real cause. Roll back only a transaction that is still open.
 */
class SqliteDriverKeepingTheCause extends SqliteDriver {
  constructor(private readonly connection: SqliteDatabase.Database) {
    super({ database: connection });
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.connection.inTransaction) await super.rollbackTransaction(connection);
  }
}

class HarkenSqliteDialect extends SqliteDialect {
  constructor(private readonly connection: SqliteDatabase.Database) {
    super({ database: connection });
  }

  override createDriver(): Driver {
    return new SqliteDriverKeepingTheCause(this.connection);
  }
}

const freeMbOf = (path: string): number | undefined => {
  try {
    const stats = statfsSync(path);
    return (stats.bavail * stats.bsize) / 1_048_576;
  } catch {
    return undefined;
  }
};

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
    const freeMb = options.path === ':memory:' ? undefined : freeMbOf(dirname(options.path));
    if (freeMb !== undefined && freeMb < 1) {
      throw new DatabaseOpenError(
        `cannot open database ${options.path}: its volume is full (${freeMb.toFixed(2)} MB free), so SQLite cannot create its write-ahead log; free space in ${dirname(options.path)} and start again`,
        { cause: error },
      );
    }
    throw new DatabaseOpenError(`cannot open database ${options.path}: ${(error as Error).message}`, { cause: error });
  }
  const kysely = new Kysely<HarkenDatabase>({ dialect: new HarkenSqliteDialect(connection) });
  let probeTable = false;
  // Through Kysely, so the probe never lands inside another caller's open transaction.
  const writeProbeRow = async () => {
    // The probe's own table, outside the migrations: it holds one row and nothing else uses it.
    if (!probeTable) await sql`CREATE TABLE IF NOT EXISTS harken_write_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)`.execute(kysely);
    probeTable = true;
    await sql`INSERT INTO harken_write_probe (id, at) VALUES (1, ${new Date().toISOString()}) ON CONFLICT (id) DO UPDATE SET at = excluded.at`.execute(kysely);
  };
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
    async probeWrite(minFreeMb) {
      if (closed) throw new Error('database is closed');
      if (options.path !== ':memory:') {
        const freeMb = freeMbOf(dirname(options.path));
        if (freeMb !== undefined && freeMb < minFreeMb) {
          throw new StorageFullError(`only ${freeMb.toFixed(1)} MB free on the data volume (${dirname(options.path)}), under store.minFreeDiskMb ${minFreeMb}; free space there`);
        }
      }
      try {
        await writeProbeRow();
      } catch (error) {
        if (isStorageFull(error)) throw new StorageFullError(`the database cannot write: ${(error as Error).message}; free space on the data volume (${dirname(options.path)})`, { cause: error });
        throw error;
      }
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
