export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: string;
}

export type ReadinessCheck = () => Promise<void> | void;

/**
 * Readiness = "send me traffic". Each check names one dependency (database,
 * engines); a slow check counts as failed so a hung dependency cannot hang the probe.
 */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private shutdownReason: string | undefined;

  constructor(private readonly timeoutMs = 2_000) {}

  add(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** Why the server is shutting down, once it is. */
  get drainingReason(): string | undefined {
    return this.shutdownReason;
  }

  /** From now on report not-ready (shutdown in progress), whatever the checks say. */
  drain(reason: string): void {
    this.shutdownReason = reason;
  }

  async run(): Promise<{ ready: boolean; checks: CheckResult[] }> {
    const results = await Promise.all([...this.checks].map(([name, check]) => this.runOne(name, check)));
    if (this.shutdownReason) results.push({ name: 'shutdown', ok: false, durationMs: 0, error: this.shutdownReason });
    return { ready: results.every((result) => result.ok), checks: results };
  }

  private async runOne(name: string, check: ReadinessCheck): Promise<CheckResult> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(check),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      return { name, ok: true, durationMs: Math.round(performance.now() - started) };
    } catch (error) {
      return { name, ok: false, durationMs: Math.round(performance.now() - started), error: (error as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }
}
