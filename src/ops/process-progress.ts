import { readFileSync } from 'node:fs';

/** Linux reports CPU time in clock ticks of 1/100 s (USER_HZ, fixed at 100 on every Linux architecture). */
const MS_PER_TICK = 10;

/** What the kernel says a process is doing: its state letter and the CPU time it has used. */
export interface ProcessSample {
  /** R running or waiting for a CPU; S sleeping; D in uninterruptible I/O; T/t stopped; Z exited. */
  readonly state: string;
  readonly cpuMs: number;
}

/** Reads /proc/<pid>/stat; undefined when the process is gone or /proc is unavailable. */
export const sampleProcess = (pid: number): ProcessSample | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) in parentheses: state is the first, utime the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', cpuMs: (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK };
  } catch {
    return undefined;
  }
};

export type StallVerdict = 'wait' | 'hung';

/**
 * Tells a hung process from a starved one once a request to it is overdue. A process waiting for
 * a CPU (a busy machine, a lower priority) is runnable and is not killed for being slow; one that
 * is stopped, or asleep without using any CPU across two checks, will never answer; one that has
 * burnt the whole time limit in CPU since it was overdue is spinning. Past `hardLimitMs` a request
 * counts as hung whatever the process is doing.
 */
export class StallJudge {
  private previous: ProcessSample | undefined;
  private spinningFromMs: number | undefined;

  constructor(
    private readonly limitMs: number,
    private readonly hardLimitMs: number,
  ) {}

  /** `overdueMs`: how long past its start the request is; `sample`: the process now (undefined: gone). */
  verdict(overdueMs: number, sample: ProcessSample | undefined): StallVerdict {
    // No /proc (not Linux): the time limit alone decides, as it would without this judge.
    if (!sample) return 'hung';
    if (overdueMs >= this.hardLimitMs) return 'hung';
    const previous = this.previous;
    this.previous = sample;
    if (sample.state === 'T' || sample.state === 't' || sample.state === 'Z' || sample.state === 'X') return 'hung';
    if (sample.state === 'R') {
      this.spinningFromMs ??= sample.cpuMs;
      // All of the limit again in CPU since it was overdue: not starved, spinning.
      return sample.cpuMs - this.spinningFromMs >= this.limitMs ? 'hung' : 'wait';
    }
    // Asleep (S, or D for I/O) while a request waits: once more to be sure, then hung if nothing moved.
    if (previous && previous.state !== 'R' && sample.cpuMs === previous.cpuMs) return 'hung';
    return 'wait';
  }
}
