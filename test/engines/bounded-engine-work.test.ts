import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineGuard } from '../../src/engines/engine-guard.js';
import { EngineBusyError, EngineTimeoutError } from '../../src/engines/engine-errors.js';
import { InMemoryEngineMetrics } from '../../src/engines/engine-metrics.js';
import { GuardedTts } from '../../src/engines/guarded-engines.js';
import { FliteTts, type SynthesisRecovery } from '../../src/engines/tts/flite/flite-tts.js';
import { TestSink } from '../helpers/test-transport.js';
import { Speaker } from '../../src/session/speaker.js';
import { childProcesses } from '../helpers/processes.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** Flite processes this test process has running now, as the kernel sees them. */
const runningFlites = async (): Promise<number> => {
  const { stdout } = await promisify(execFile)('ps', ['--ppid', String(process.pid), '-o', 'comm=']).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return stdout.split('\n').filter((name) => name.trim() === 'flite').length;
};

/** Pids of this process's flite children. */
const flitePids = (): number[] => childProcesses(process.pid, /^\/usr\/(local\/)?bin\/flite\0/);

const wavFilesUnder = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((count, entry) => count + (entry.isDirectory() ? wavFilesUnder(join(dir, entry.name)) : entry.name.endsWith('.wav') ? 1 : 0), 0);

const guardOptions = (overrides: Partial<ConstructorParameters<typeof EngineGuard>[0]> = {}): ConstructorParameters<typeof EngineGuard>[0] => ({
  engine: 'flite',
  timeoutMs: 15_000,
  perUnitMs: 20,
  retries: 1,
  maxConcurrent: 2,
  maxQueued: 64,
  unhealthyAfterTimeouts: 3,
  healthRecoveryMs: 30_000,
  metrics: new InMemoryEngineMetrics(),
  ...overrides,
});

const sentence = (index: number) => `This is sentence number ${index} of a very long answer that the agent reads out.`;

async function* sentences(count: number): AsyncGenerator<string> {
  for (let index = 1; index <= count; index += 1) yield sentence(index);
}

describe('bounded, cancellable engine work', () => {
  const tempDir = useTempDirs();
  const engines: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
  });

  it('gets a 225-sentence reply’s first audio as fast as a 2-sentence one, never runs more flite processes than allowed, and leaves none behind when cancelled', async () => {
    const temp = tempDir();
    const flite = await FliteTts.create({ tempDir: temp });
    engines.push(flite);
    const tts = new GuardedTts(flite, new EngineGuard(guardOptions({ maxConcurrent: 2 })));

    let sampling = true;
    let mostRunning = 0;
    const sampler = (async () => {
      while (sampling) {
        mostRunning = Math.max(mostRunning, await runningFlites());
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const firstAudioMs = async (count: number) => {
      const sink = new TestSink({ sampleRate: 16_000, encoding: 'pcm_s16le' }, 'wall-clock');
      const speaker = new Speaker(tts, sink, () => undefined, { replyId: 'reply', leadMs: 200 });
      const abort = new AbortController();
      const started = performance.now();
      const playing = speaker.speak(sentences(count), abort.signal);
      while (sink.firstWriteAt === undefined) await new Promise((resolve) => setTimeout(resolve, 2));
      const elapsed = sink.firstWriteAt - started;
      // Let it play a little, then hang up mid-reply.
      await new Promise((resolve) => setTimeout(resolve, 400));
      abort.abort(new Error('the caller hung up'));
      const result = await playing;
      expect(result.interrupted).toBe(true);
      return elapsed;
    };

    const short: number[] = [];
    const long: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      short.push(await firstAudioMs(2));
      long.push(await firstAudioMs(225));
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[1] as number;
    // Same work before the first audio either way: one sentence (plus the look-ahead), not 225.
    expect(median(long)).toBeLessThan(median(short) * 2 + 50);

    // Within a second of the hang-up nothing is left: no process, no file.
    const deadline = performance.now() + 1_000;
    while ((await runningFlites()) > 0 || wavFilesUnder(temp) > 0) {
      if (performance.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    sampling = false;
    await sampler;
    expect(await runningFlites()).toBe(0);
    expect(wavFilesUnder(temp)).toBe(0);
    expect(mostRunning).toBeGreaterThan(0);
    expect(mostRunning).toBeLessThanOrEqual(2);
  });

  it('kills a sentence’s flite process when its time limit passes, not at the process’s own limit', async () => {
    const temp = tempDir();
    const flite = await FliteTts.create({ tempDir: temp });
    engines.push(flite);
    const tts = new GuardedTts(flite, new EngineGuard(guardOptions({ timeoutMs: 300, perUnitMs: 0 })));
    const long = 'The quick brown fox jumps over the lazy dog while the patient waits for the doctor. '.repeat(60);
    const started = performance.now();
    await expect(tts.synthesize(long)).rejects.toBeInstanceOf(EngineTimeoutError);
    expect(performance.now() - started).toBeLessThan(1_500);
    const deadline = performance.now() + 1_000;
    while ((await runningFlites()) > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await runningFlites()).toBe(0);
    expect(wavFilesUnder(temp)).toBe(0);
  });
});

describe('a flite process that hangs', () => {
  it('is killed after tts.hangTimeoutMs and its sentence made by a new process, within 2 s, the audio whole', async () => {
    const recoveries: SynthesisRecovery[] = [];
    const flite = await FliteTts.create({ hangTimeoutMs: 1_000, onRecovery: (recovery) => recoveries.push(recovery) });
    try {
      const text = 'The doctor will see you shortly; please have your card ready.';
      const expected = await flite.synthesize(text);
      const started = performance.now();
      const speaking = flite.synthesize(text);
      // SIGSTOP: to the server, exactly a process that never finishes.
      let frozen: number | undefined;
      while (frozen === undefined && performance.now() - started < 2_000) {
        frozen = flitePids()[0];
        if (frozen === undefined) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(frozen).toBeDefined();
      process.kill(frozen as number, 'SIGSTOP');
      const audio = await speaking;
      const tookMs = performance.now() - started;
      expect(audio.samples.length).toBe(expected.samples.length);
      expect(recoveries).toEqual([expect.objectContaining({ ok: true, limitMs: 1_000 + 3 * text.length })]);
      expect(tookMs).toBeLessThan(2_000);
      await expect.poll(() => flitePids(), { timeout: 2_000 }).toEqual([]);
    } finally {
      await flite.close();
    }
  });
});

describe('the engine guard', () => {
  const never = () => new Promise<never>(() => undefined);

  it('queues beyond its slots, refuses beyond its queue, and never starts work whose caller gave up while waiting', async () => {
    const guard = new EngineGuard(guardOptions({ maxConcurrent: 1, maxQueued: 1 }));
    const started: string[] = [];
    let finishFirst: () => void = () => undefined;
    const first = guard.run('tts.synthesize', { units: 0, what: 'a sentence' }, () => {
      started.push('first');
      return new Promise<void>((resolve) => (finishFirst = resolve));
    });
    const gaveUp = new AbortController();
    const second = guard.run('tts.synthesize', { units: 0, what: 'a sentence', signal: gaveUp.signal }, async () => {
      started.push('second');
    });
    await expect(guard.run('tts.synthesize', { units: 0, what: 'a sentence' }, never)).rejects.toBeInstanceOf(EngineBusyError);
    expect(guard.load()).toEqual({ running: 1, waiting: 1 });
    gaveUp.abort(new Error('hung up'));
    await expect(second).rejects.toThrow('hung up');
    expect(guard.load()).toEqual({ running: 1, waiting: 0 });
    finishFirst();
    await first;
    expect(started).toEqual(['first']);
    expect(guard.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('counts only its own deadline as a timeout, and holds a slot until the cancelled work has really stopped', async () => {
    const guard = new EngineGuard(guardOptions({ timeoutMs: 1_000, perUnitMs: 0, maxConcurrent: 1, unhealthyAfterTimeouts: 1 }));
    let stopWork: () => void = () => undefined;
    const stubborn = () => new Promise<void>((resolve) => (stopWork = resolve)); // ignores its signal, like a native call mid-chunk
    const caller = new AbortController();
    let workStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (workStarted = resolve));
    const first = guard.run('stt.transcribe', { units: 0, what: 'a transcription', signal: caller.signal }, () => {
      workStarted();
      return stubborn();
    });
    await started;
    // Aborted with a timeout error as the reason (as a sibling piece's failure could be): not this engine's timeout.
    caller.abort(new EngineTimeoutError('pocketsphinx', 'another piece', 1));
    await expect(first).rejects.toBeInstanceOf(EngineTimeoutError);
    expect(() => guard.check()).not.toThrow();
    // The caller got its answer, but the work still runs: the slot stays taken until it stops.
    let secondStarted = false;
    const second = guard.run('stt.transcribe', { units: 0, what: 'a transcription' }, async () => {
      secondStarted = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(secondStarted).toBe(false);
    stopWork();
    await second;
    expect(secondStarted).toBe(true);
  });

  it('gives long inputs a longer limit, and counts as recovered a while after its last timeout, without any success', async () => {
    let now = 0;
    const guard = new EngineGuard(guardOptions({ timeoutMs: 30, perUnitMs: 10, unhealthyAfterTimeouts: 2, healthRecoveryMs: 30_000, now: () => now }));
    expect(guard.timeLimitMs(5_000)).toBe(50_030);
    const slow = (ms: number) => (signal: AbortSignal) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => resolve('done'), ms);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
    // 60 ms of work: too long for an empty input (30 ms), fine for 10 units (130 ms).
    expect(await guard.run('tts.synthesize', { units: 10, what: 'a sentence' }, slow(60))).toBe('done');
    for (let attempt = 0; attempt < 2; attempt += 1) await expect(guard.run('tts.synthesize', { units: 0, what: 'a sentence' }, slow(60))).rejects.toBeInstanceOf(EngineTimeoutError);
    expect(() => guard.check()).toThrow(/timed out 2 times in a row/);
    now += 29_000;
    expect(() => guard.check()).toThrow();
    now += 1_000;
    expect(() => guard.check()).not.toThrow();
  });
});
