import { hash, verify } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AdminRow, HarkenDatabase } from '../store/tables.js';
import { randomToken, sha256Hex } from './credentials.js';

export const MIN_PASSWORD_LENGTH = 12;
const USERNAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export class AdminInputError extends Error {}

export const checkUsername = (username: string): string => {
  const normalised = username.trim().toLowerCase();
  if (!USERNAME.test(normalised)) throw new AdminInputError('a username is 1–63 characters: letters, digits, ".", "_" or "-", starting with a letter or digit');
  return normalised;
};

export const checkPassword = (password: string): void => {
  if (password.length < MIN_PASSWORD_LENGTH) throw new AdminInputError(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > 1024) throw new AdminInputError('a password may have at most 1024 characters');
};

export interface AdminView {
  readonly id: string;
  readonly username: string;
  readonly createdAt: string;
  readonly lastLoginAt: string | null;
}

const toView = (row: AdminRow): AdminView => ({ id: row.id, username: row.username, createdAt: row.created_at, lastLoginAt: row.last_login_at });

/** Verified against when the username is unknown, so response time does not reveal which usernames exist. */
let decoyHash: Promise<string> | undefined;

export interface AdminSession {
  readonly admin: AdminView;
  readonly csrfHash: string;
  readonly expiresAt: string;
}

/** Admin accounts (argon2id passwords) and their server-side sessions. */
export class AdminRepository {
  constructor(private readonly db: Kysely<HarkenDatabase>, private readonly now: () => Date = () => new Date()) {}

  async count(): Promise<number> {
    const row = await this.db.selectFrom('admins').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async create(username: string, password: string): Promise<AdminView> {
    const name = checkUsername(username);
    checkPassword(password);
    const existing = await this.db.selectFrom('admins').select('id').where('username', '=', name).executeTakeFirst();
    if (existing) throw new AdminInputError(`an admin named "${name}" already exists`);
    const row: AdminRow = { id: randomUUID(), username: name, password_hash: await hash(password), created_at: this.now().toISOString(), last_login_at: null };
    await this.db.insertInto('admins').values(row).execute();
    return toView(row);
  }

  async get(id: string): Promise<AdminView | undefined> {
    const row = await this.db.selectFrom('admins').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toView(row) : undefined;
  }

  async list(): Promise<AdminView[]> {
    return (await this.db.selectFrom('admins').selectAll().orderBy('username').execute()).map(toView);
  }

  /** The admin when the password matches; undefined otherwise (same work either way). */
  async authenticate(username: string, password: string): Promise<AdminView | undefined> {
    const row = await this.db.selectFrom('admins').selectAll().where('username', '=', username.trim().toLowerCase()).executeTakeFirst();
    if (!row) {
      decoyHash ??= hash(randomToken());
      await verify(await decoyHash, password).catch(() => false);
      return undefined;
    }
    const ok = await verify(row.password_hash, password).catch(() => false);
    if (!ok) return undefined;
    await this.db.updateTable('admins').set({ last_login_at: this.now().toISOString() }).where('id', '=', row.id).execute();
    return toView(row);
  }

  /** Starts a session; the returned tokens exist only in the caller's cookie and response. */
  async startSession(adminId: string, ttlMs: number): Promise<{ sessionToken: string; csrfToken: string; expiresAt: string }> {
    const sessionToken = randomToken();
    const csrfToken = randomToken();
    const now = this.now();
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    await this.db
      .insertInto('admin_sessions')
      .values({ id_hash: sha256Hex(sessionToken), admin_id: adminId, csrf_hash: sha256Hex(csrfToken), created_at: now.toISOString(), expires_at: expiresAt, revoked_at: null })
      .execute();
    return { sessionToken, csrfToken, expiresAt };
  }

  async session(sessionToken: string): Promise<AdminSession | undefined> {
    const row = await this.db
      .selectFrom('admin_sessions')
      .innerJoin('admins', 'admins.id', 'admin_sessions.admin_id')
      .selectAll('admins')
      .select(['admin_sessions.csrf_hash', 'admin_sessions.expires_at', 'admin_sessions.revoked_at'])
      .where('admin_sessions.id_hash', '=', sha256Hex(sessionToken))
      .executeTakeFirst();
    if (!row || row.revoked_at || Date.parse(row.expires_at) <= this.now().getTime()) return undefined;
    return { admin: toView(row), csrfHash: row.csrf_hash, expiresAt: row.expires_at };
  }

  async endSession(sessionToken: string): Promise<void> {
    await this.db.updateTable('admin_sessions').set({ revoked_at: this.now().toISOString() }).where('id_hash', '=', sha256Hex(sessionToken)).execute();
  }

  /** Drops sessions that ended more than a day ago. */
  async purgeSessions(): Promise<void> {
    const cutoff = new Date(this.now().getTime() - 86_400_000).toISOString();
    await this.db.deleteFrom('admin_sessions').where('expires_at', '<', cutoff).execute();
  }
}
