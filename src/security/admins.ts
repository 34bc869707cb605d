import { hash, verify } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AdminRow, HarkenDatabase } from '../store/tables.js';
import { randomToken, sha256Hex } from './credentials.js';
import { maskIp } from './ip-mask.js';
import { checkPasswordStrength } from './password-strength.js';

export const MIN_PASSWORD_LENGTH = 12;
const USERNAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export class AdminInputError extends Error {}

export const checkUsername = (username: string): string => {
  const normalised = username.trim().toLowerCase();
  if (!USERNAME.test(normalised)) throw new AdminInputError('a username is 1–63 characters: letters, digits, ".", "_" or "-", starting with a letter or digit');
  return normalised;
};

/** Length first (cheap, clear), then a real strength estimate that knows the username. */
export const checkPassword = (password: string, username = ''): void => {
  if (password.length < MIN_PASSWORD_LENGTH) throw new AdminInputError(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > 1024) throw new AdminInputError('a password may have at most 1024 characters');
  const weakness = checkPasswordStrength(password, [username, 'harken', 'admin']);
  if (weakness) throw new AdminInputError(weakness);
};

export interface AdminView {
  readonly id: string;
  readonly username: string;
  readonly createdAt: string;
  readonly lastLoginAt: string | null;
  readonly disabledAt: string | null;
  readonly passwordChangedAt: string | null;
  readonly totpEnabled: boolean;
}

const toView = (row: AdminRow): AdminView => ({
  id: row.id,
  username: row.username,
  createdAt: row.created_at,
  lastLoginAt: row.last_login_at,
  disabledAt: row.disabled_at,
  passwordChangedAt: row.password_changed_at,
  totpEnabled: row.totp_enabled_at !== null,
});

/** Verified against when the username is unknown, so response time does not reveal which usernames exist. */
let decoyHash: Promise<string> | undefined;

export interface AdminSession {
  readonly id: string;
  readonly admin: AdminView;
  readonly csrfHash: string;
  readonly expiresAt: string;
}

export interface AdminSessionView {
  readonly id: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly lastSeenAt: string | null;
  readonly ip: string | null;
}

export type PasswordCheck =
  | { readonly ok: true; readonly admin: AdminView; readonly totpSecret: string | null }
  | { readonly ok: false; readonly reason: 'wrong' | 'disabled'; readonly knownUsername: boolean };

export interface SessionPolicy {
  /** Absolute lifetime from login. */
  readonly ttlMs: number;
  /** A session unused this long has ended. */
  readonly idleMs: number;
}

/** last_seen_at is written at most this often, so browsing the dashboard is not a write per request. */
const TOUCH_INTERVAL_MS = 60_000;

/** Admin accounts (argon2id passwords) and their server-side sessions. */
export class AdminRepository {
  constructor(private readonly db: Kysely<HarkenDatabase>, private readonly now: () => Date = () => new Date()) {}

  async count(): Promise<number> {
    const row = await this.db.selectFrom('admins').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async create(username: string, password: string): Promise<AdminView> {
    const name = checkUsername(username);
    checkPassword(password, name);
    const existing = await this.db.selectFrom('admins').select('id').where('username', '=', name).executeTakeFirst();
    if (existing) throw new AdminInputError(`an admin named "${name}" already exists`);
    const row: AdminRow = {
      id: randomUUID(),
      username: name,
      password_hash: await hash(password),
      created_at: this.now().toISOString(),
      last_login_at: null,
      disabled_at: null,
      password_changed_at: null,
      totp_secret: null,
      totp_enabled_at: null,
      totp_last_step: null,
    };
    await this.db.insertInto('admins').values(row).execute();
    return toView(row);
  }

  async get(id: string): Promise<AdminView | undefined> {
    const row = await this.row(id);
    return row ? toView(row) : undefined;
  }

  async byUsername(username: string): Promise<AdminView | undefined> {
    const row = await this.db.selectFrom('admins').selectAll().where('username', '=', username.trim().toLowerCase()).executeTakeFirst();
    return row ? toView(row) : undefined;
  }

  async list(): Promise<AdminView[]> {
    return (await this.db.selectFrom('admins').selectAll().orderBy('username').execute()).map(toView);
  }

  /** Checks a password; the same argon2 work is done whether or not the username exists. */
  async checkPassword(username: string, password: string): Promise<PasswordCheck> {
    const row = await this.db.selectFrom('admins').selectAll().where('username', '=', username.trim().toLowerCase()).executeTakeFirst();
    if (!row) {
      decoyHash ??= hash(randomToken());
      await verify(await decoyHash, password).catch(() => false);
      return { ok: false, reason: 'wrong', knownUsername: false };
    }
    const ok = await verify(row.password_hash, password).catch(() => false);
    if (!ok) return { ok: false, reason: 'wrong', knownUsername: true };
    if (row.disabled_at) return { ok: false, reason: 'disabled', knownUsername: true };
    return { ok: true, admin: toView(row), totpSecret: row.totp_enabled_at ? row.totp_secret : null };
  }

  async recordLogin(adminId: string): Promise<void> {
    await this.db.updateTable('admins').set({ last_login_at: this.now().toISOString() }).where('id', '=', adminId).execute();
  }

  /** Starts a session; the returned tokens exist only in the caller's cookie and response. */
  async startSession(adminId: string, ttlMs: number, ip?: string): Promise<{ sessionId: string; sessionToken: string; csrfToken: string; expiresAt: string }> {
    const sessionToken = randomToken();
    const csrfToken = randomToken();
    const sessionId = randomUUID();
    const now = this.now();
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    await this.db
      .insertInto('admin_sessions')
      .values({
        id_hash: sha256Hex(sessionToken),
        session_id: sessionId,
        admin_id: adminId,
        csrf_hash: sha256Hex(csrfToken),
        created_at: now.toISOString(),
        expires_at: expiresAt,
        revoked_at: null,
        last_seen_at: now.toISOString(),
        ip: maskIp(ip),
      })
      .execute();
    return { sessionId, sessionToken, csrfToken, expiresAt };
  }

  /** The live session behind a cookie (not revoked, expired, idle, nor of a disabled admin); marks it used. */
  async session(sessionToken: string, idleMs: number): Promise<AdminSession | undefined> {
    return this.liveSession('admin_sessions.id_hash', sha256Hex(sessionToken), idleMs, true);
  }

  /** The same check by public session id, for tokens and open sockets made from a session. */
  async sessionById(sessionId: string, idleMs: number): Promise<AdminSession | undefined> {
    return this.liveSession('admin_sessions.session_id', sessionId, idleMs, false);
  }

  async endSession(sessionToken: string): Promise<void> {
    await this.db.updateTable('admin_sessions').set({ revoked_at: this.now().toISOString() }).where('id_hash', '=', sha256Hex(sessionToken)).where('revoked_at', 'is', null).execute();
  }

  async sessions(adminId: string): Promise<AdminSessionView[]> {
    const now = this.now().toISOString();
    const rows = await this.db
      .selectFrom('admin_sessions')
      .select(['session_id', 'created_at', 'expires_at', 'last_seen_at', 'ip'])
      .where('admin_id', '=', adminId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((row) => ({ id: row.session_id, createdAt: row.created_at, expiresAt: row.expires_at, lastSeenAt: row.last_seen_at, ip: row.ip }));
  }

  /** Ends one session (by public id) or all of an admin's sessions; returns how many ended. */
  async revokeSessions(adminId: string, options: { sessionId?: string; except?: string } = {}): Promise<number> {
    let query = this.db.updateTable('admin_sessions').set({ revoked_at: this.now().toISOString() }).where('admin_id', '=', adminId).where('revoked_at', 'is', null);
    if (options.sessionId) query = query.where('session_id', '=', options.sessionId);
    if (options.except) query = query.where('session_id', '!=', options.except);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** A disabled admin cannot log in, and every session (and token from one) ends at once. */
  async setDisabled(adminId: string, disabled: boolean): Promise<AdminView | undefined> {
    await this.db.updateTable('admins').set({ disabled_at: disabled ? this.now().toISOString() : null }).where('id', '=', adminId).execute();
    if (disabled) await this.revokeSessions(adminId);
    return this.get(adminId);
  }

  async delete(adminId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('admins').where('id', '=', adminId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Admins that can still log in: the last one cannot be disabled or deleted. */
  async enabledCount(): Promise<number> {
    const row = await this.db.selectFrom('admins').select((eb) => eb.fn.countAll<number>().as('n')).where('disabled_at', 'is', null).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Sets a new password and ends the admin's other sessions (all of them when `keepSession` is not given). */
  async setPassword(adminId: string, password: string, keepSession?: string): Promise<void> {
    const row = await this.row(adminId);
    if (!row) throw new AdminInputError('no such admin');
    checkPassword(password, row.username);
    await this.db.updateTable('admins').set({ password_hash: await hash(password), password_changed_at: this.now().toISOString() }).where('id', '=', adminId).execute();
    await this.revokeSessions(adminId, keepSession ? { except: keepSession } : {});
  }

  async passwordMatches(adminId: string, password: string): Promise<boolean> {
    const row = await this.row(adminId);
    return row ? verify(row.password_hash, password).catch(() => false) : false;
  }

  /** Accepts a TOTP step only if it is newer than the last accepted one (no replay). */
  async acceptTotpStep(adminId: string, step: number): Promise<boolean> {
    const result = await this.db
      .updateTable('admins')
      .set({ totp_last_step: step })
      .where('id', '=', adminId)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Stores a TOTP secret: pending until enabled, active afterwards. */
  async setTotp(adminId: string, secret: string | null, enabled: boolean): Promise<void> {
    await this.db
      .updateTable('admins')
      .set({ totp_secret: secret, totp_enabled_at: enabled ? this.now().toISOString() : null, totp_last_step: null })
      .where('id', '=', adminId)
      .execute();
    if (!enabled) await this.db.deleteFrom('admin_recovery_codes').where('admin_id', '=', adminId).execute();
  }

  async pendingTotpSecret(adminId: string): Promise<string | null> {
    const row = await this.row(adminId);
    return row && !row.totp_enabled_at ? row.totp_secret : null;
  }

  /** Replaces the admin's recovery codes with new ones; returns them (shown once). */
  async issueRecoveryCodes(adminId: string, count = 10): Promise<string[]> {
    const codes = Array.from({ length: count }, () => randomToken(8).replace(/[-_]/g, 'x').slice(0, 10).toLowerCase());
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('admin_recovery_codes').where('admin_id', '=', adminId).execute();
      await trx.insertInto('admin_recovery_codes').values(codes.map((code) => ({ code_hash: sha256Hex(code), admin_id: adminId, used_at: null }))).execute();
    });
    return codes;
  }

  /** True once per code. */
  async useRecoveryCode(adminId: string, code: string): Promise<boolean> {
    const result = await this.db
      .updateTable('admin_recovery_codes')
      .set({ used_at: this.now().toISOString() })
      .where('admin_id', '=', adminId)
      .where('code_hash', '=', sha256Hex(code.trim().toLowerCase()))
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async remainingRecoveryCodes(adminId: string): Promise<number> {
    const row = await this.db.selectFrom('admin_recovery_codes').select((eb) => eb.fn.countAll<number>().as('n')).where('admin_id', '=', adminId).where('used_at', 'is', null).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Drops sessions that ended more than a day ago. */
  async purgeSessions(): Promise<void> {
    const cutoff = new Date(this.now().getTime() - 86_400_000).toISOString();
    await this.db.deleteFrom('admin_sessions').where((eb) => eb.or([eb('expires_at', '<', cutoff), eb('revoked_at', '<', cutoff)])).execute();
  }

  private row(id: string): Promise<AdminRow | undefined> {
    return this.db.selectFrom('admins').selectAll().where('id', '=', id).executeTakeFirst();
  }

  private async liveSession(column: 'admin_sessions.id_hash' | 'admin_sessions.session_id', value: string, idleMs: number, touch: boolean): Promise<AdminSession | undefined> {
    const row = await this.db
      .selectFrom('admin_sessions')
      .innerJoin('admins', 'admins.id', 'admin_sessions.admin_id')
      .selectAll('admins')
      .select(['admin_sessions.session_id', 'admin_sessions.csrf_hash', 'admin_sessions.expires_at', 'admin_sessions.revoked_at', 'admin_sessions.last_seen_at', 'admin_sessions.created_at as session_created_at'])
      .where(column, '=', value)
      .executeTakeFirst();
    const now = this.now().getTime();
    if (!row || row.revoked_at || row.disabled_at || Date.parse(row.expires_at) <= now) return undefined;
    const lastSeen = Date.parse(row.last_seen_at ?? row.session_created_at);
    if (now - lastSeen >= idleMs) return undefined;
    if (touch && now - lastSeen >= TOUCH_INTERVAL_MS) {
      await this.db.updateTable('admin_sessions').set({ last_seen_at: new Date(now).toISOString() }).where('session_id', '=', row.session_id).execute();
    }
    return { id: row.session_id, admin: toView(row), csrfHash: row.csrf_hash, expiresAt: row.expires_at };
  }
}
