export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: string;
}

export type ReadinessCheck = () => Promise<void> | void;

/** Something an operator should know that does not stop traffic (memory high, restarting often). */
export interface ReadinessWarning {
  readonly name: string;
  readonly message: string;
}

/**
 * Readiness = "send me traffic". Each check names one dependency (database,
 * engines); a slow check counts as failed so a hung dependency cannot hang the probe.
 */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly warnings = new Map<string, () => string | undefined>();
  private shutdownReason: string | undefined;

  constructor(private readonly timeoutMs = 2_000) {}

  add(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** A warning shown with readiness while `message()` returns one; it never makes the server unready. */
  addWarning(name: string, message: () => string | undefined): void {
    this.warnings.set(name, message);
  }

  currentWarnings(): ReadinessWarning[] {
    const warnings: ReadinessWarning[] = [];
    for (const [name, message] of this.warnings) {
      const text = message();
      if (text) warnings.push({ name, message: text });
    }
    return warnings;
  }

  /** Why the server is shutting down, once it is. */
  get drainingReason(): string | undefined {
    return this.shutdownReason;
  }

  /** From now on report not-ready (shutdown in progress), whatever the checks say. */
  drain(reason: string): void {
    this.shutdownReason = reason;
  }

  async run(): Promise<{ ready: boolean; checks: CheckResult[]; warnings: ReadinessWarning[] }> {
    const results = await Promise.all([...this.checks].map(([name, check]) => this.runOne(name, check)));
    if (this.shutdownReason) results.push({ name: 'shutdown', ok: false, durationMs: 0, error: this.shutdownReason });
    return { ready: results.every((result) => result.ok), checks: results, warnings: this.currentWarnings() };
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
