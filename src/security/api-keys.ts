import type { Kysely } from 'kysely';
import type { ApiKeyRow, HarkenDatabase } from '../store/tables.js';
import { CredentialCache, NOT_CACHED, type SecretMatch } from './credential-cache.js';
import { issueCredential, KEY_PREFIX } from './credentials.js';
import type { Scope } from './scopes.js';
import { DEFAULT_TENANT } from './tenants.js';
import { UsageRecorder } from './usage-recorder.js';

export interface NewApiKey {
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly tenant?: string;
  readonly expiresAt?: Date;
  readonly rateLimit?: number;
  readonly dailyLimit?: number;
  readonly maxSessions?: number;
  readonly createdBy?: string;
}

export interface ApiKeyView {
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  readonly scopes: Scope[];
  readonly createdAt: string;
  readonly createdBy: string | null;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
  readonly usageCount: number;
  readonly rateLimit: number | null;
  readonly dailyLimit: number | null;
  readonly maxSessions: number | null;
  readonly status: 'active' | 'expired' | 'revoked';
}

/** Why a presented key was not accepted; the messages are safe to show the caller. */
export type KeyCheck =
  | { readonly ok: true; readonly key: ApiKeyView }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown' | 'expired' | 'revoked'; readonly keyId?: string };

const statusOf = (row: ApiKeyRow, now: Date): ApiKeyView['status'] => {
  if (row.revoked_at) return 'revoked';
  if (row.expires_at && Date.parse(row.expires_at) <= now.getTime()) return 'expired';
  return 'active';
};

const toView = (row: ApiKeyRow, now: Date): ApiKeyView => ({
  id: row.id,
  name: row.name,
  tenant: row.tenant,
  scopes: JSON.parse(row.scopes) as Scope[],
  createdAt: row.created_at,
  createdBy: row.created_by,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
  usageCount: row.usage_count,
  rateLimit: row.rate_limit,
  dailyLimit: row.daily_limit,
  maxSessions: row.max_sessions,
  status: statusOf(row, now),
});

export const looksLikeApiKey = (value: string): boolean => value.startsWith(`${KEY_PREFIX}_`);

export class ApiKeyRepository {
  /** Uses are counted in memory and written in batches (see flushUse). */
  private readonly usage: UsageRecorder;
  /** Rows for verify/active (every authenticated request); see CredentialCache for why revocation stays immediate. */
  private readonly cache: CredentialCache<ApiKeyRow>;
  private readonly activeViews = new WeakMap<ApiKeyRow, ApiKeyView>();

  constructor(
    private readonly db: Kysely<HarkenDatabase>,
    externalChangeCounter: () => number,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.cache = new CredentialCache(externalChangeCounter);
    this.usage = new UsageRecorder(async (uses) => {
      await this.db.transaction().execute(async (trx) => {
        for (const [id, use] of uses) {
          await trx
            .updateTable('api_keys')
            .set((eb) => ({ last_used_at: use.lastUsedAt, usage_count: eb('usage_count', '+', use.count) }))
            .where('id', '=', id)
            .execute();
        }
      });
    }, now);
  }

  /** Creates a key; the returned `key` string is the only time the secret exists outside the caller. */
  async create(input: NewApiKey): Promise<{ key: string; view: ApiKeyView }> {
    const issued = issueCredential(KEY_PREFIX);
    const row: ApiKeyRow = {
      id: issued.id,
      name: input.name,
      tenant: input.tenant ?? DEFAULT_TENANT,
      secret_hash: issued.secretHash,
      scopes: JSON.stringify(input.scopes),
      created_at: this.now().toISOString(),
      created_by: input.createdBy ?? null,
      expires_at: input.expiresAt?.toISOString() ?? null,
      revoked_at: null,
      last_used_at: null,
      usage_count: 0,
      rate_limit: input.rateLimit ?? null,
      daily_limit: input.dailyLimit ?? null,
      max_sessions: input.maxSessions ?? null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return { key: issued.credential, view: toView(row, this.now()) };
  }

  async list(filter: { tenant?: string } = {}): Promise<ApiKeyView[]> {
    await this.flushUse().catch(() => undefined);
    let query = this.db.selectFrom('api_keys').selectAll();
    if (filter.tenant) query = query.where('tenant', '=', filter.tenant);
    const rows = await query.orderBy('created_at', 'desc').orderBy('id').execute();
    const now = this.now();
    return rows.map((row) => toView(row, now));
  }

  async get(id: string): Promise<ApiKeyView | undefined> {
    await this.flushUse().catch(() => undefined);
    const row = await this.row(id);
    return row ? toView(row, this.now()) : undefined;
  }

  /** Revokes at once, for every request and open session after this one. Returns undefined for an unknown id. */
  async revoke(id: string): Promise<ApiKeyView | undefined> {
    await this.db.updateTable('api_keys').set({ revoked_at: this.now().toISOString() }).where('id', '=', id).where('revoked_at', 'is', null).execute();
    this.cache.invalidate(id);
    return this.get(id);
  }

  /**
   * Checks a presented key. The secret is compared before the key's state is revealed,
   * so only its holder learns that a key is expired or revoked.
   */
  async verify(presented: string): Promise<KeyCheck> {
    return this.checkMatch(await this.cache.match(presented, KEY_PREFIX, (id) => this.row(id)));
  }

  /** The same answer as `verify` when it needs no query (the row is cached); undefined otherwise. */
  verifyCached(presented: string): KeyCheck | undefined {
    const match = this.cache.matchCached(presented, KEY_PREFIX);
    return match === NOT_CACHED ? undefined : this.checkMatch(match);
  }

  private checkMatch(match: SecretMatch<ApiKeyRow>): KeyCheck {
    if (match === 'malformed') return { ok: false, reason: 'malformed' };
    return match ? this.checkState(match) : { ok: false, reason: 'unknown' };
  }

  private checkState(row: ApiKeyRow): KeyCheck {
    const now = this.now();
    const status = statusOf(row, now);
    if (status !== 'active') return { ok: false, reason: status, keyId: row.id };
    return { ok: true, key: this.activeView(row, now) };
  }

  /** A cached row is never changed (a write replaces it), so its active view is built once, not per request. */
  private activeView(row: ApiKeyRow, now: Date): ApiKeyView {
    let view = this.activeViews.get(row);
    if (view === undefined) {
      view = toView(row, now);
      this.activeViews.set(row, view);
    }
    return view;
  }

  /** Looks a key up by id for token checks and open sessions (the token proves the secret was held). */
  async active(id: string): Promise<KeyCheck> {
    const row = await this.cachedRow(id);
    if (!row) return { ok: false, reason: 'unknown' };
    return this.checkState(row);
  }

  recordUse(id: string): void {
    this.usage.record(id);
  }

  flushUse(): Promise<void> {
    return this.usage.flush();
  }

  /** Status (expiry) is computed from the row at each use, so a cached row expires on time. */
  private cachedRow(id: string): Promise<ApiKeyRow | undefined> {
    return this.cache.get(id, (key) => this.row(key));
  }

  private async row(id: string): Promise<ApiKeyRow | undefined> {
    return this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
  }
}
