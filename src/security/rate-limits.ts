/** One counter a request draws from: e.g. the caller's general allowance, or a route's. */
export interface Bucket {
  /** Stable name, shown in errors and the audit log (`caller`, `ip`, `route:/v1/voice-chat`). */
  readonly name: string;
  /** Who is counted (key id, IP). */
  readonly key: string;
  /** Requests allowed per window. */
  readonly limit: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** The most constrained bucket, whose numbers go into the RateLimit-* headers. */
  readonly bucket: Bucket;
  readonly remaining: number;
  readonly resetSeconds: number;
  /** True on the first refusal in a window, so a flood is audited once, not per request. */
  readonly firstRefusal: boolean;
}

interface Window {
  count: number;
  endsAtMs: number;
}

/**
 * Fixed windows counted in memory, synchronously: a window starts at a key's first request and
 * lasts `windowSeconds`. Every authenticated request draws from two or three buckets, so this
 * runs on the hot path without a promise per bucket (rate-limiter-flexible's memory store, used
 * here before, cost a promise and a result object per bucket and per request). A store shared
 * between servers (Redis) would sit behind the same class, asynchronously.
 */
export class RateLimits {
  /** Keyed by bucket name, limit and key: a key whose limit changes starts a fresh window. */
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private nextSweepMs = 0;

  constructor(readonly windowSeconds: number, private readonly nowMs: () => number = Date.now) {
    this.windowMs = windowSeconds * 1000;
  }

  /** Draws one request from every bucket; refused if any bucket is empty. */
  consume(buckets: readonly Bucket[]): RateDecision | undefined {
    const now = this.nowMs();
    if (now >= this.nextSweepMs) this.sweep(now);
    let tightest: RateDecision | undefined;
    for (const bucket of buckets) {
      const id = `${bucket.name}@${bucket.limit}|${bucket.key}`;
      let window = this.windows.get(id);
      if (window === undefined || now >= window.endsAtMs) {
        window = { count: 0, endsAtMs: now + this.windowMs };
        this.windows.set(id, window);
      }
      window.count += 1;
      const allowed = window.count <= bucket.limit;
      const decision: RateDecision = {
        allowed,
        bucket,
        remaining: Math.max(0, bucket.limit - window.count),
        resetSeconds: Math.max(1, Math.ceil((window.endsAtMs - now) / 1000)),
        firstRefusal: window.count === bucket.limit + 1,
      };
      if (!tightest || (tightest.allowed && (!allowed || decision.remaining < tightest.remaining))) tightest = decision;
    }
    return tightest;
  }

  /** Forgets ended windows, at most once a window, so memory follows the callers of the last window only. */
  private sweep(now: number): void {
    for (const [id, window] of this.windows) if (now >= window.endsAtMs) this.windows.delete(id);
    this.nextSweepMs = now + this.windowMs;
  }
}
