/**
 * Credential rows kept in memory so a request does not cost a database query, with
 * revocation still immediate:
 * - this process's own writes (revoke, rotate, disable) invalidate the row they change;
 * - another process's writes (the `harken` CLI on the same SQLite file) are seen through the
 *   database's change counter (`PRAGMA data_version`), read on every lookup: any change by
 *   another connection empties the whole cache before the row is used.
 * Only rows that exist are kept (unknown ids are looked up each time), at most `maxEntries`.
 */
export class CredentialCache<Row> {
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
