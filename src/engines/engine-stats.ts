/** Outcome counters and recent durations of one engine stage (e.g. `stt.final`, `tts.synthesize`). */
export interface StageView {
  readonly calls: number;
  readonly failures: number;
  readonly timeouts: number;
  readonly retries: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}

const WINDOW = 500;

class Stage {
  calls = 0;
  failures = 0;
  timeouts = 0;
  retries = 0;
  private readonly durations: number[] = [];

  record(ms: number): void {
    this.durations.push(ms);
    if (this.durations.length > WINDOW) this.durations.shift();
  }

  view(): StageView {
    const sorted = [...this.durations].sort((a, b) => a - b);
    const at = (quantile: number) => (sorted.length === 0 ? null : Math.round((sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] as number) * 10) / 10);
    return { calls: this.calls, failures: this.failures, timeouts: this.timeouts, retries: this.retries, p50Ms: at(0.5), p95Ms: at(0.95) };
  }
}

/** Per-stage statistics of the speech engines, over the last 500 calls of each stage. */
export class EngineStats {
  private readonly stages = new Map<string, Stage>();

  stage(name: string): Stage {
    let stage = this.stages.get(name);
    if (!stage) {
      stage = new Stage();
      this.stages.set(name, stage);
    }
    return stage;
  }

  view(): Record<string, StageView> {
    return Object.fromEntries([...this.stages.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, stage]) => [name, stage.view()]));
  }
}
