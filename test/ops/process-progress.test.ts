import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { sampleProcess, StallJudge, type ProcessSample } from '../../src/ops/process-progress.js';

const at = (state: string, cpuMs: number): ProcessSample => ({ state, cpuMs });

describe('telling a hung process from a starved one', () => {
  it('a stopped process is hung at the first look; a gone one too', () => {
    expect(new StallJudge(1_000, 30_000).verdict(1_000, at('T', 50))).toBe('hung');
    expect(new StallJudge(1_000, 30_000).verdict(1_000, undefined)).toBe('hung');
  });

  it('a runnable process that gets little CPU (a busy machine) is waited for, up to the hard limit', () => {
    const judge = new StallJudge(1_000, 30_000);
    expect(judge.verdict(1_000, at('R', 100))).toBe('wait');
    expect(judge.verdict(5_000, at('R', 400))).toBe('wait');
    expect(judge.verdict(29_000, at('R', 1_000))).toBe('wait');
    expect(judge.verdict(30_000, at('R', 1_050))).toBe('hung');
  });

  it('a runnable process that burns the whole limit again in CPU is spinning', () => {
    const judge = new StallJudge(1_000, 30_000);
    expect(judge.verdict(1_000, at('R', 900))).toBe('wait');
    expect(judge.verdict(1_500, at('R', 1_400))).toBe('wait');
    expect(judge.verdict(2_000, at('R', 1_900))).toBe('hung');
  });

  it('asleep with no CPU used across two looks is hung; asleep once (its answer on the way) is not', () => {
    const deadlocked = new StallJudge(1_000, 30_000);
    expect(deadlocked.verdict(1_000, at('S', 200))).toBe('wait');
    expect(deadlocked.verdict(1_250, at('S', 200))).toBe('hung');
    const answering = new StallJudge(1_000, 30_000);
    expect(answering.verdict(1_000, at('S', 200))).toBe('wait');
    expect(answering.verdict(1_250, at('R', 210))).toBe('wait');
  });

  it('reads the state and CPU time of real processes from /proc', async () => {
    const own = sampleProcess(process.pid);
    expect(own?.state).toBe('R');
    expect(own?.cpuMs).toBeGreaterThan(0);
    const child = spawn('sleep', ['30']);
    try {
      await expect.poll(() => sampleProcess(child.pid as number)?.state).toBe('S');
      child.kill('SIGSTOP');
      await expect.poll(() => sampleProcess(child.pid as number)?.state).toBe('T');
    } finally {
      child.kill('SIGKILL');
    }
    expect(sampleProcess(999_999_999)).toBeUndefined();
  });
});
