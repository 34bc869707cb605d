import type { Kysely } from 'kysely';
import type { HarkenDatabase, ServiceAccountRow } from '../store/tables.js';
import { CredentialCache, NOT_CACHED, type SecretMatch } from './credential-cache.js';
import { issueCredential, SERVICE_ACCOUNT_PREFIX } from './credentials.js';
import type { Scope } from './scopes.js';
import { DEFAULT_TENANT } from './tenants.js';
import { UsageRecorder } from './usage-recorder.js';

export interface ServiceAccountView {
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  readonly permissions: Scope[];
  /** Bumped by each rotation. */
  readonly secretVersion: number;
  readonly createdAt: string;
  readonly rotatedAt: string | null;
  readonly disabledAt: string | null;
  readonly lastUsedAt: string | null;
}

export type ServiceAccountCheck =
  | { readonly ok: true; readonly account: ServiceAccountView }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown' | 'revoked'; readonly accountId?: string };

const toView = (row: ServiceAccountRow): ServiceAccountView => ({
  id: row.id,
  name: row.name,
  tenant: row.tenant,
  permissions: JSON.parse(row.permissions) as Scope[],
  secretVersion: row.secret_version,
  createdAt: row.created_at,
  rotatedAt: row.rotated_at,
  disabledAt: row.disabled_at,
  lastUsedAt: row.last_used_at,
});

export const looksLikeServiceAccountSecret = (value: string): boolean => value.startsWith(`${SERVICE_ACCOUNT_PREFIX}_`);

export class ServiceAccountNameTaken extends Error {}

/** Machines (satellites, integrations) with named permissions and a secret that can be rotated. */
export class ServiceAccountRepository {
  private readonly usage: UsageRecorder;
  /** Rows for verify/active; see CredentialCache for why rotation and disabling stay immediate. */
  private readonly cache: CredentialCache<ServiceAccountRow>;
  private readonly views = new WeakMap<ServiceAccountRow, ServiceAccountView>();

  constructor(
    private readonly db: Kysely<HarkenDatabase>,
    externalChangeCounter: () => number,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.cache = new CredentialCache(externalChangeCounter);
    this.usage = new UsageRecorder(async (uses) => {
      await this.db.transaction().execute(async (trx) => {
        for (const [id, use] of uses) await trx.updateTable('service_accounts').set({ last_used_at: use.lastUsedAt }).where('id', '=', id).execute();
      });
    }, now);
  }

  async create(name: string, permissions: readonly Scope[], tenant: string = DEFAULT_TENANT): Promise<{ secret: string; view: ServiceAccountView }> {
    const existing = await this.db.selectFrom('service_accounts').select('id').where('name', '=', name).executeTakeFirst();
    if (existing) throw new ServiceAccountNameTaken(`a service account named "${name}" already exists`);
    const issued = issueCredential(SERVICE_ACCOUNT_PREFIX);
    const row: ServiceAccountRow = {
      id: issued.id,
      name,
      tenant,
      secret_hash: issued.secretHash,
      secret_version: 1,
      permissions: JSON.stringify(permissions),
      created_at: this.now().toISOString(),
      rotated_at: null,
      disabled_at: null,
      last_used_at: null,
    };
    await this.db.insertInto('service_accounts').values(row).execute();
    return { secret: issued.credential, view: toView(row) };
  }

  async list(filter: { tenant?: string } = {}): Promise<ServiceAccountView[]> {
    await this.flushUse().catch(() => undefined);
    let query = this.db.selectFrom('service_accounts').selectAll();
    if (filter.tenant) query = query.where('tenant', '=', filter.tenant);
    const rows = await query.orderBy('created_at', 'desc').orderBy('id').execute();
    return rows.map(toView);
  }

  async get(id: string): Promise<ServiceAccountView | undefined> {
    const row = await this.db.selectFrom('service_accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toView(row) : undefined;
  }

  /** A new secret; the old one, and every token and session made with it, stops working at once. Undefined for an unknown id. */
  async rotate(id: string): Promise<{ secret: string; view: ServiceAccountView } | undefined> {
    const issued = issueCredential(SERVICE_ACCOUNT_PREFIX, id);
    const result = await this.db
      .updateTable('service_accounts')
      .set((eb) => ({ secret_hash: issued.secretHash, rotated_at: this.now().toISOString(), secret_version: eb('secret_version', '+', 1) }))
      .where('id', '=', id)
      .executeTakeFirst();
    this.cache.invalidate(id);
    if (Number(result.numUpdatedRows) === 0) return undefined;
    const view = await this.get(id);
    return view ? { secret: issued.credential, view } : undefined;
  }

  async disable(id: string): Promise<ServiceAccountView | undefined> {
    await this.db.updateTable('service_accounts').set({ disabled_at: this.now().toISOString() }).where('id', '=', id).where('disabled_at', 'is', null).execute();
    this.cache.invalidate(id);
    return this.get(id);
  }

  async verify(presented: string): Promise<ServiceAccountCheck> {
    return this.checkMatch(await this.cache.match(presented, SERVICE_ACCOUNT_PREFIX, (id) => this.loadRow(id)));
  }

  /** The same answer as `verify` when it needs no query (the row is cached); undefined otherwise. */
  verifyCached(presented: string): ServiceAccountCheck | undefined {
    const match = this.cache.matchCached(presented, SERVICE_ACCOUNT_PREFIX);
    return match === NOT_CACHED ? undefined : this.checkMatch(match);
  }

  private checkMatch(match: SecretMatch<ServiceAccountRow>): ServiceAccountCheck {
    if (match === 'malformed') return { ok: false, reason: 'malformed' };
    return match ? this.checkState(match) : { ok: false, reason: 'unknown' };
  }

  private checkState(row: ServiceAccountRow): ServiceAccountCheck {
    if (row.disabled_at) return { ok: false, reason: 'revoked', accountId: row.id };
    // A cached row is never changed (a write replaces it), so its view is built once, not per request.
    let view = this.views.get(row);
    if (view === undefined) {
      view = toView(row);
      this.views.set(row, view);
    }
    return { ok: true, account: view };
  }

  async active(id: string): Promise<ServiceAccountCheck> {
    const row = await this.cachedRow(id);
    if (!row) return { ok: false, reason: 'unknown' };
    return this.checkState(row);
  }

  private cachedRow(id: string): Promise<ServiceAccountRow | undefined> {
    return this.cache.get(id, (account) => this.loadRow(account));
  }

  private loadRow(id: string): Promise<ServiceAccountRow | undefined> {
    return this.db.selectFrom('service_accounts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  recordUse(id: string): void {
    this.usage.record(id);
  }

  flushUse(): Promise<void> {
    return this.usage.flush();
  }
}
