import type { Kysely } from 'kysely';
import type { HarkenDatabase } from '../store/tables.js';

export interface QuotaDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the UTC day ends. */
  readonly resetSeconds: number;
  /** True on the day's first refusal, so an exhausted quota is audited once. */
  readonly firstRefusal: boolean;
}

interface DayCount {
  readonly day: string;
  /** Requests counted today, including those already stored. */
  count: number;
  /** Counted but not yet written. */
  unflushed: number;
  refused: boolean;
}

const dayOf = (date: Date): string => date.toISOString().slice(0, 10);

/**
 * Per-key requests per UTC day. Counted in memory (no write per request) and added to
 * the database in batches, so a restart continues today's count instead of resetting it.
 */
export class DailyQuotas {
  private readonly counts = new Map<string, DayCount>();
  private readonly loading = new Map<string, Promise<DayCount>>();
  private flushing: Promise<void> = Promise.resolve();
  /** The current UTC day and when it ends, so a request does not format a date. */
  private day = { name: '', endsAtMs: 0 };

  constructor(private readonly db: Kysely<HarkenDatabase>, private readonly now: () => Date = () => new Date()) {}

  private currentDay(nowMs: number): string {
    if (nowMs >= this.day.endsAtMs || nowMs < this.day.endsAtMs - 86_400_000) {
      const date = new Date(nowMs);
      this.day = { name: dayOf(date), endsAtMs: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1) };
    }
    return this.day.name;
  }

  /** Draws one request from today's count once it is in memory (every request after a key's first of the day); undefined until then. */
  tryConsume(keyId: string, limit: number): QuotaDecision | undefined {
    const nowMs = this.now().getTime();
    const entry = this.counts.get(keyId);
    if (entry === undefined || entry.day !== this.currentDay(nowMs)) return undefined;
    return this.draw(entry, limit, nowMs);
  }

  /** Draws one request, first loading today's stored count when it is not in memory yet. */
  async consume(keyId: string, limit: number): Promise<QuotaDecision> {
    const nowMs = this.now().getTime();
    return this.draw(await this.today(keyId, this.currentDay(nowMs)), limit, nowMs);
  }

  private draw(entry: DayCount, limit: number, nowMs: number): QuotaDecision {
    const resetSeconds = Math.max(1, Math.ceil((this.day.endsAtMs - nowMs) / 1000));
    if (entry.count >= limit) {
      const firstRefusal = !entry.refused;
      entry.refused = true;
      return { allowed: false, limit, remaining: 0, resetSeconds, firstRefusal };
    }
    entry.count += 1;
    entry.unflushed += 1;
    return { allowed: true, limit, remaining: limit - entry.count, resetSeconds, firstRefusal: false };
  }

  /** Adds what was counted since the last flush to the stored totals. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = [...this.counts.entries()].filter(([, entry]) => entry.unflushed > 0).map(([keyId, entry]) => ({ keyId, entry, requests: entry.unflushed }));
      if (batch.length === 0) return;
      for (const item of batch) item.entry.unflushed -= item.requests;
      try {
        await this.db.transaction().execute(async (trx) => {
          for (const { keyId, entry, requests } of batch) {
            await trx
              .insertInto('api_key_daily_usage')
              .values({ key_id: keyId, day: entry.day, requests })
              .onConflict((conflict) => conflict.columns(['key_id', 'day']).doUpdateSet((eb) => ({ requests: eb('api_key_daily_usage.requests', '+', eb.ref('excluded.requests')) })))
              .execute();
          }
        });
      } catch (error) {
        for (const item of batch) item.entry.unflushed += item.requests;
        throw error;
      }
    });
    return this.flushing;
  }

  /** Deletes counts of days long past. */
  async purge(keepDays = 7): Promise<void> {
    const cutoff = dayOf(new Date(this.now().getTime() - keepDays * 86_400_000));
    await this.db.deleteFrom('api_key_daily_usage').where('day', '<', cutoff).execute();
  }

  private async today(keyId: string, day: string): Promise<DayCount> {
    const current = this.counts.get(keyId);
    if (current && current.day === day) return current;
    const cacheKey = `${keyId}|${day}`;
    let pending = this.loading.get(cacheKey);
    if (!pending) {
      pending = (async () => {
        if (current && current.unflushed > 0) await this.flush().catch(() => undefined);
        const row = await this.db.selectFrom('api_key_daily_usage').select('requests').where('key_id', '=', keyId).where('day', '=', day).executeTakeFirst();
        const entry: DayCount = { day, count: row?.requests ?? 0, unflushed: 0, refused: false };
        this.counts.set(keyId, entry);
        return entry;
      })().finally(() => this.loading.delete(cacheKey));
      this.loading.set(cacheKey, pending);
    }
    return pending;
  }
}
