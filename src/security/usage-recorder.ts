/**
 * Counts uses of credentials in memory and writes them in one batch, so an
 * authenticated request costs no database write. Best effort: a failed flush is
 * reported and its counts are kept for the next one; it never fails a request.
 */
export class UsageRecorder {
  /** Last use as epoch ms: turned into ISO text once per flush, not once per request. */
  private pending = new Map<string, { count: number; lastUsedAtMs: number }>();
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly write: (uses: ReadonlyMap<string, { count: number; lastUsedAt: string }>) => Promise<void>, private readonly now: () => Date) {}

  record(id: string): void {
    const entry = this.pending.get(id);
    const lastUsedAtMs = this.now().getTime();
    if (entry) {
      entry.count += 1;
      entry.lastUsedAtMs = lastUsedAtMs;
    } else this.pending.set(id, { count: 1, lastUsedAtMs });
  }

  /** Writes what was counted; concurrent calls share one write at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = this.pending;
      this.pending = new Map();
      try {
        await this.write(new Map([...batch].map(([id, use]) => [id, { count: use.count, lastUsedAt: new Date(use.lastUsedAtMs).toISOString() }])));
      } catch (error) {
        for (const [id, use] of batch) {
          const later = this.pending.get(id);
          this.pending.set(id, { count: use.count + (later?.count ?? 0), lastUsedAtMs: later?.lastUsedAtMs ?? use.lastUsedAtMs });
        }
        throw error;
      }
    });
    return this.flushing;
  }
}
