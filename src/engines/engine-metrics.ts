/** How one guarded call (one attempt) ended. */
export type CallOutcome = 'ok' | 'failure' | 'timeout' | 'cancelled' | 'busy';

/**
 * Where the engine guard reports what engines do. Counters and fixed-bucket histograms only,
 * so any metrics system can aggregate them across processes (a Prometheus or OpenTelemetry
 * adapter implements this interface); the in-memory one below serves the admin API.
 */
export interface EngineMetrics {
  /** One attempt of `stage` (e.g. `tts.synthesize`) on `engine` ended; busy refusals have no duration. */
  recordCall(stage: string, engine: string, outcome: CallOutcome, durationMs?: number): void;
  recordRetry(stage: string, engine: string): void;
}

/** Upper bounds of the duration buckets, in ms (the last bucket is +Inf). */
export const DURATION_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000] as const;

export interface StageView {
  readonly engine: string;
  readonly calls: number;
  readonly failures: number;
  readonly timeouts: number;
  readonly cancelled: number;
  readonly busy: number;
  readonly retries: number;
  /** Estimated from the histogram (linear within a bucket, as Prometheus' histogram_quantile). */
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  /** Count per bucket of DURATION_BUCKETS_MS, then the overflow bucket; not cumulative. */
  readonly buckets: number[];
}

class StageCounters {
  readonly outcomes: Record<CallOutcome, number> = { ok: 0, failure: 0, timeout: 0, cancelled: 0, busy: 0 };
  retries = 0;
  readonly buckets = new Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0);
  observed = 0;

  constructor(readonly name: string, readonly engine: string) {}

  observe(ms: number): void {
    let index = DURATION_BUCKETS_MS.findIndex((bound) => ms <= bound);
    if (index < 0) index = DURATION_BUCKETS_MS.length;
    this.buckets[index] = (this.buckets[index] as number) + 1;
    this.observed += 1;
  }

  quantile(q: number): number | null {
    if (this.observed === 0) return null;
    const rank = q * this.observed;
    let below = 0;
    for (let index = 0; index < this.buckets.length; index += 1) {
      const count = this.buckets[index] as number;
      if (below + count >= rank && count > 0) {
        const lower = index === 0 ? 0 : (DURATION_BUCKETS_MS[index - 1] as number);
        // The overflow bucket has no upper bound: report its lower one.
        if (index === DURATION_BUCKETS_MS.length) return lower;
        const upper = DURATION_BUCKETS_MS[index] as number;
        return Math.round((lower + ((upper - lower) * (rank - below)) / count) * 10) / 10;
      }
      below += count;
    }
    return null;
  }
}

/** Engine metrics kept in this process, for `GET /v1/admin/engines` and tests. */
export class InMemoryEngineMetrics implements EngineMetrics {
  private readonly stages = new Map<string, StageCounters>();

  /** `exporter` gets every record too (the Prometheus metrics). */
  constructor(private readonly exporter?: EngineMetrics) {}

  recordCall(stage: string, engine: string, outcome: CallOutcome, durationMs?: number): void {
    const counters = this.stage(stage, engine);
    counters.outcomes[outcome] += 1;
    if (durationMs !== undefined && outcome !== 'busy') counters.observe(durationMs);
    this.exporter?.recordCall(stage, engine, outcome, outcome === 'busy' ? undefined : durationMs);
  }

  recordRetry(stage: string, engine: string): void {
    this.stage(stage, engine).retries += 1;
    this.exporter?.recordRetry(stage, engine);
  }

  /** Keyed by stage; a stage served by several engines (the LLM chain's providers) as `stage (engine)`. */
  view(): Record<string, StageView> {
    const engineCount = new Map<string, number>();
    for (const { name } of this.stages.values()) engineCount.set(name, (engineCount.get(name) ?? 0) + 1);
    return Object.fromEntries(
      [...this.stages.values()]
        .map((stage) => [(engineCount.get(stage.name) ?? 0) > 1 ? `${stage.name} (${stage.engine})` : stage.name, stage] as const)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, stage]) => {
          const { ok, failure, timeout, cancelled, busy } = stage.outcomes;
          const view: StageView = {
            engine: stage.engine,
            calls: ok + failure + timeout + cancelled,
            failures: failure,
            timeouts: timeout,
            cancelled,
            busy,
            retries: stage.retries,
            p50Ms: stage.quantile(0.5),
            p95Ms: stage.quantile(0.95),
            buckets: [...stage.buckets],
          };
          return [name, view];
        }),
    );
  }

  private stage(name: string, engine: string): StageCounters {
    const key = `${name}\u0000${engine}`;
    let stage = this.stages.get(key);
    if (!stage) {
      stage = new StageCounters(name, engine);
      this.stages.set(key, stage);
    }
    return stage;
  }
}
