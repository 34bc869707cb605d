import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

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

/**
 * Fixed windows counted in memory (rate-limiter-flexible). The store sits behind
 * this class so a shared one (Redis) can replace it when Harken runs on several machines.
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterMemory>();

  constructor(readonly windowSeconds: number) {}

  private limiter(bucket: Bucket): RateLimiterMemory {
    const id = `${bucket.name}@${bucket.limit}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterMemory({ keyPrefix: id, points: bucket.limit, duration: this.windowSeconds });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  /** Draws one request from every bucket; refused if any bucket is empty. */
  async consume(buckets: readonly Bucket[]): Promise<RateDecision | undefined> {
    let tightest: RateDecision | undefined;
    for (const bucket of buckets) {
      let result: RateLimiterRes;
      let allowed = true;
      try {
        result = await this.limiter(bucket).consume(bucket.key, 1);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        result = rejection;
        allowed = false;
      }
      const decision: RateDecision = {
        allowed,
        bucket,
        remaining: Math.max(0, result.remainingPoints),
        resetSeconds: Math.max(1, Math.ceil(result.msBeforeNext / 1000)),
        firstRefusal: !allowed && result.consumedPoints === bucket.limit + 1,
      };
      if (!tightest || (tightest.allowed && (!allowed || decision.remaining < tightest.remaining))) tightest = decision;
    }
    return tightest;
  }
}
