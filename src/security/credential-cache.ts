import { parseCredential, secretMatches } from './credentials.js';

/**
 * Credential rows kept in memory so a request does not cost a database query, with
 * revocation still immediate:
 * - this process's own writes (revoke, rotate, disable) invalidate the row they change;
 * - another process's writes (the `harken` CLI on the same SQLite file) are seen through the
 *   database's change counter (`PRAGMA data_version`), read on every lookup: any change by
 *   another connection empties the whole cache before the row is used.
 * Only rows that exist are kept (unknown ids are looked up each time), at most `maxEntries`.
 */
/** Returned by `matchCached` when the named row is not in memory (then `match` loads it). */
export const NOT_CACHED = Symbol('not cached');

/**
 * What a presented `<prefix>_<id>_<secret>` names: `malformed` when it is not shaped like one,
 * the row when it exists and the secret matches, undefined otherwise.
 */
export type SecretMatch<Row> = Row | 'malformed' | undefined;

const matched = <Row extends { readonly secret_hash: string }>(secret: string, row: Row | undefined): Row | undefined =>
  row && secretMatches(secret, row.secret_hash) ? row : undefined;

export class CredentialCache<Row extends { readonly secret_hash: string }> {
  private readonly rows = new Map<string, Row>();
  private seenVersion: number | undefined;
  /** Bumped by every local invalidation, so a load that raced with one is not kept. */
  private generation = 0;

  constructor(
    /** Changes whenever another connection commits to the database. */
    private readonly externalChangeCounter: () => number,
    private readonly maxEntries = 10_000,
  ) {}

  async get(id: string, load: (id: string) => Promise<Row | undefined>): Promise<Row | undefined> {
    this.dropIfChangedElsewhere();
    const cached = this.rows.get(id);
    if (cached !== undefined) return cached;
    const version = this.seenVersion;
    const generation = this.generation;
    const row = await load(id);
    // A write (here or elsewhere) during the load could make the row stale: keep it only when none came.
    if (row !== undefined && generation === this.generation && version === this.externalChangeCounter()) this.remember(id, row);
    return row;
  }

  /** The row a presented credential names, if its secret matches (see SecretMatch). */
  async match(presented: string, prefix: string, load: (id: string) => Promise<Row | undefined>): Promise<SecretMatch<Row>> {
    const parsed = parseCredential(presented, prefix);
    if (!parsed) return 'malformed';
    return matched(parsed.secret, await this.get(parsed.id, load));
  }

  /** The same answer as `match` from memory alone: NOT_CACHED when the row would have to be loaded. */
  matchCached(presented: string, prefix: string): SecretMatch<Row> | typeof NOT_CACHED {
    const parsed = parseCredential(presented, prefix);
    if (!parsed) return 'malformed';
    this.dropIfChangedElsewhere();
    const row = this.rows.get(parsed.id);
    return row === undefined ? NOT_CACHED : matched(parsed.secret, row);
  }

  invalidate(id: string): void {
    this.generation += 1;
    this.rows.delete(id);
  }

  private remember(id: string, row: Row): void {
    if (this.rows.size >= this.maxEntries) this.rows.delete(this.rows.keys().next().value as string);
    this.rows.set(id, row);
  }

  private dropIfChangedElsewhere(): void {
    const version = this.externalChangeCounter();
    if (version !== this.seenVersion) {
      this.rows.clear();
      this.seenVersion = version;
    }
  }
}
