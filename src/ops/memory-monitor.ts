import { readFileSync } from 'node:fs';
import { childrenResidentBytes } from './processes.js';

export interface MemorySample {
  readonly at: string;
  /** The server and its helper processes together: what the thresholds apply to. */
  readonly totalRssMb: number;
  /** The server process alone. */
  readonly rssMb: number;
  /** Its helper processes (PocketSphinx decoders, flite runs), which hold most of the engines' memory. */
  readonly helpersRssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
}

export type MemoryState = 'ok' | 'warn' | 'critical';

export interface MemoryThresholds {
  readonly warnMb: number;
  readonly criticalMb: number;
  /** Where the figures come from: the settings, sized from this process at start, or the container's limit. */
  readonly source: 'config' | 'measured' | 'cgroup';
  /** The container's (cgroup) memory limit, when there is one. */
  readonly limitMb?: number;
}

/**
 * Growth measured under full load on top of a started server (BENCHMARKS.md, memory per session):
 * the recogniser pool at its bound (+284 MB for 4 decoders) and 200 sessions (+34 MB), with room.
 */
const MEASURED_GROWTH_MB = 700;
const MIN_AUTO_WARN_MB = 1024;
const HOUR_MS = 3_600_000;

const mb = (bytes: number): number => Math.round((bytes / 1_048_576) * 10) / 10;

/** The cgroup (v2, else v1) memory limit of this process, in MB; undefined when unlimited or unknown. */
export const cgroupMemoryLimitMb = (): number | undefined => {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const text = readFileSync(file, 'utf8').trim();
      if (text === 'max') return undefined;
      const bytes = Number(text);
      // v1 reports "unlimited" as a number near 2^63.
      if (Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 60) return mb(bytes);
    } catch {
      // Not this cgroup version.
    }
  }
  return undefined;
};

/**
 * The thresholds: the configured ones, or (0) sized from the server as started — its RSS and its helpers' plus
 * the growth measured under full load — and never above 75 % / 90 % of a container's limit.
 */
export const memoryThresholds = (configured: { warnMb: number; criticalMb: number }, startedRssMb: number, limitMb: number | undefined): MemoryThresholds => {
  let warnMb = configured.warnMb;
  let criticalMb = configured.criticalMb;
  let source: MemoryThresholds['source'] = 'config';
  if (warnMb === 0) {
    warnMb = Math.max(MIN_AUTO_WARN_MB, Math.ceil((startedRssMb + MEASURED_GROWTH_MB) / 64) * 64);
    source = 'measured';
  }
  if (criticalMb === 0) {
    criticalMb = Math.ceil((warnMb * 1.5) / 64) * 64;
    source = 'measured';
  }
  if (limitMb !== undefined && criticalMb > limitMb * 0.9) {
    warnMb = Math.min(warnMb, Math.floor(limitMb * 0.75));
    criticalMb = Math.floor(limitMb * 0.9);
    source = 'cgroup';
  }
  return { warnMb, criticalMb, source, ...(limitMb !== undefined ? { limitMb } : {}) };
};

export interface MemoryMonitorOptions {
  readonly intervalMs: number;
  readonly thresholds: MemoryThresholds;
  /** Called when the state changes (ok → warn, warn → critical, back to ok). */
  readonly onState: (state: MemoryState, sample: MemorySample) => void;
  readonly usage?: () => NodeJS.MemoryUsage;
  /** Resident bytes of the helper processes (default: this process's children, from /proc). */
  readonly helpersResident?: () => number;
  readonly now?: () => Date;
}

/**
 * Samples RSS (the server's and its helper processes') and heap every `intervalMs`, keeps the
 * last hour, and reports threshold crossings of the total.
 */
export class MemoryMonitor {
  private readonly samples: MemorySample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private current: MemoryState = 'ok';

  constructor(private readonly options: MemoryMonitorOptions) {}

  get state(): MemoryState {
    return this.current;
  }

  get thresholds(): MemoryThresholds {
    return this.options.thresholds;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Samples now; the history keeps an hour of samples. */
  sample(): MemorySample {
    const usage = (this.options.usage ?? process.memoryUsage)();
    const at = (this.options.now?.() ?? new Date());
    const helpers = (this.options.helpersResident ?? childrenResidentBytes)();
    const sample: MemorySample = {
      at: at.toISOString(),
      totalRssMb: mb(usage.rss + helpers),
      rssMb: mb(usage.rss),
      helpersRssMb: mb(helpers),
      heapUsedMb: mb(usage.heapUsed),
      heapTotalMb: mb(usage.heapTotal),
      externalMb: mb(usage.external),
      arrayBuffersMb: mb(usage.arrayBuffers),
    };
    this.samples.push(sample);
    while (this.samples.length > 0 && Date.parse((this.samples[0] as MemorySample).at) < at.getTime() - HOUR_MS) this.samples.shift();
    const next = this.stateOf(sample.totalRssMb);
    // Critical is final: the server is on its way out.
    if (next !== this.current && this.current !== 'critical') {
      this.current = next;
      this.options.onState(next, sample);
    }
    return sample;
  }

  history(): readonly MemorySample[] {
    return this.samples;
  }

  private stateOf(rssMb: number): MemoryState {
    if (rssMb >= this.options.thresholds.criticalMb) return 'critical';
    if (rssMb >= this.options.thresholds.warnMb) return 'warn';
    return 'ok';
  }
}
