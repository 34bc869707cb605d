import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';

/** A backup or restore that cannot go ahead; the message says why and what to do. */
export class BackupError extends Error {}

export interface BackupResult {
  readonly file: string;
  readonly bytes: number;
  readonly pages: number;
}

/** Opens a file that must already be a Harken database whose pages are all intact. */
const checkedHarkenDatabase = (file: string, what: string): void => {
  let database: SqliteDatabase.Database | undefined;
  try {
    database = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
    const integrity = database.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new BackupError(`${what} ${file} is damaged (integrity_check: ${String(integrity)})`);
    const migrated = database.prepare("select count(*) from sqlite_master where type = 'table' and name = 'harken_migrations'").pluck().get() as number;
    if (migrated === 0) throw new BackupError(`${what} ${file} is an SQLite file but not a Harken database (no migrations table)`);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`${what} ${file} is not a readable SQLite database: ${(error as Error).message}`);
  } finally {
    database?.close();
  }
};

/** SQLite's online backup from one file into a new private (0600) file, then moved into place whole. */
const copyWithBackupApi = async (source: string, destination: string): Promise<number> => {
  mkdirSync(dirname(destination), { recursive: true, mode: 0o700 });
  const partial = `${destination}.partial`;
  rmSync(partial, { force: true });
  const database = new SqliteDatabase(source, { readonly: true, fileMustExist: true });
  try {
    const progress = await database.backup(partial);
    chmodSync(partial, 0o600);
    renameSync(partial, destination);
    return progress.totalPages;
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    database.close();
  }
};

/**
 * An online, consistent copy of the database: SQLite's backup API reads a snapshot while the
 * server keeps writing (WAL), so nothing has to stop. The copy is checked before it is reported.
 */
export const backupDatabase = async (databaseFile: string, destination: string): Promise<BackupResult> => {
  if (!existsSync(databaseFile)) throw new BackupError(`there is no database at ${databaseFile}; check data.dir or store.sqlitePath`);
  if (existsSync(destination)) throw new BackupError(`${destination} already exists; choose another --out`);
  const pages = await copyWithBackupApi(databaseFile, destination);
  checkedHarkenDatabase(destination, 'the new backup');
  return { file: destination, bytes: statSync(destination).size, pages };
};

/**
 * Puts a backup in place of the database. The server must be stopped (its open connection would
 * keep the old file). The backup is checked first; the old database is kept as `<file>.before-restore`.
 */
export const restoreDatabase = async (backupFile: string, databaseFile: string, options: { force: boolean }): Promise<BackupResult> => {
  checkedHarkenDatabase(backupFile, 'the backup');
  const existing = existsSync(databaseFile);
  if (existing && !options.force) throw new BackupError(`${databaseFile} already exists; stop the server and pass --force to replace it (the old file is kept as ${databaseFile}.before-restore)`);
  const incoming = `${databaseFile}.incoming`;
  rmSync(incoming, { force: true });
  const pages = await copyWithBackupApi(backupFile, incoming);
  if (existing) {
    // The old database with its write-ahead log, folded into one file to keep.
    await copyWithBackupApi(databaseFile, `${databaseFile}.before-restore`).catch(() => copyFileSync(databaseFile, `${databaseFile}.before-restore`));
  }
  for (const suffix of ['-wal', '-shm']) rmSync(`${databaseFile}${suffix}`, { force: true });
  renameSync(incoming, databaseFile);
  return { file: databaseFile, bytes: statSync(databaseFile).size, pages };
};
