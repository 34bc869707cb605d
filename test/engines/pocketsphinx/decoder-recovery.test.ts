import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DecoderLostError } from '../../../src/engines/stt/pocketsphinx/decoder-process.js';
import { PocketSphinxStt, type DecoderRecovery } from '../../../src/engines/stt/pocketsphinx/pocketsphinx-stt.js';
import type { SttStream } from '../../../src/engines/stt/speech-to-text.js';
import { processExists as exists } from '../../helpers/processes.js';
import { recording, spoken } from '../../helpers/speech.js';

const MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

/** Feeds audio in 100 ms pieces at four times real time, as a session's stream would (faster). */
const speak = async (stream: SttStream, samples: Int16Array): Promise<void> => {
  for (let offset = 0; offset < samples.length; offset += 1_600) {
    stream.push(samples.subarray(offset, offset + 1_600));
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

/**
 * Faults from outside, as they happen to a native library: SIGSTOP makes a decoder process stop
 * answering in the middle of a decode (exactly what a native call that never returns looks like
 * to the server), SIGKILL makes it die. Nothing in the product is told which.
 */
describe('PocketSphinx decoder processes: a hung or crashed decoder is replaced under a live utterance', () => {
  const engines: PocketSphinxStt[] = [];
  const stopped: number[] = [];
  afterEach(async () => {
    for (const pid of stopped.splice(0)) if (exists(pid)) process.kill(pid, 'SIGKILL');
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
  });

  const engine = async (recoveries: DecoderRecovery[]) => {
    const stt = await PocketSphinxStt.create({ modelDir: MODEL_DIR, hangTimeoutMs: 1_000, onRecovery: (recovery) => recoveries.push(recovery) });
    engines.push(stt);
    return stt;
  };

  /** The decoder the stream holds: the one process of the pool that is not idle. */
  const decoderOf = async (stt: PocketSphinxStt, spare: readonly number[]): Promise<number> => {
    await expect.poll(() => stt.pool.processes?.filter((pid) => !spare.includes(pid)).length, { timeout: 10_000 }).toBe(1);
    return stt.pool.processes?.find((pid) => !spare.includes(pid)) as number;
  };

  it('a decode that hangs mid-utterance: the process is killed and the utterance recovered in seconds, not at the hard limit, its transcript whole', async () => {
    const recoveries: DecoderRecovery[] = [];
    const stt = await engine(recoveries);
    const audio = recording('goforward.wav').samples;
    const stream = stt.createStream();
    const held = stt.pool.processes?.[0] as number;
    // The pool loads a spare beside the decoder the stream took.
    await expect.poll(() => stt.pool.idle, { timeout: 10_000 }).toBe(1);
    const half = Math.floor(audio.length / 2);
    await speak(stream, audio.subarray(0, half));
    process.kill(held, 'SIGSTOP');
    stopped.push(held);
    const hungAt = performance.now();
    let recoveredAt = 0;
    const watching = setInterval(() => {
      if (recoveries.some((recovery) => recovery.ok) && !recoveredAt) recoveredAt = performance.now();
    }, 5);
    await speak(stream, audio.subarray(half));
    const transcript = await stream.finish();
    clearInterval(watching);

    expect(transcript.text).toBe('go forward ten meters');
    expect(recoveries).toEqual([expect.objectContaining({ reason: 'hung', pid: held, ok: true })]);
    expect(recoveries[0]?.replayedMs).toBeGreaterThan(500);
    // Recovered by the stall judge, not by the 30 s hard limit a starved decoder gets (~1.3 s on a quiet machine; a loaded CI run took 2.03 s).
    expect(recoveredAt - hungAt).toBeLessThan(5_000);
    await expect.poll(() => exists(held), { timeout: 5_000 }).toBe(false);
    expect(stt.pool.processes).not.toContain(held);
    // The pool is whole again: the replacement went back to it and a new spare loads.
    await expect.poll(() => stt.pool, { timeout: 10_000 }).toMatchObject({ busy: 0, waiting: 0 });
    expect((await stt.transcribe(recording('goforward.wav'))).text).toBe('go forward ten meters');
  });

  it('a decoder process that dies mid-utterance is replaced the same way', async () => {
    const recoveries: DecoderRecovery[] = [];
    const stt = await engine(recoveries);
    const audio = recording('goforward.wav').samples;
    const stream = stt.createStream();
    const held = stt.pool.processes?.[0] as number;
    await speak(stream, audio.subarray(0, 16_000));
    process.kill(held, 'SIGKILL');
    await speak(stream, audio.subarray(16_000));
    expect((await stream.finish()).text).toBe('go forward ten meters');
    expect(recoveries).toEqual([expect.objectContaining({ reason: 'crashed', pid: held, ok: true })]);
  });

  it('a final pass that hangs on a constrained answer is redone on a replacement, still exact', async () => {
    const recoveries: DecoderRecovery[] = [];
    const stt = await engine(recoveries);
    const stream = stt.createStream({ hints: { expect: { type: 'date' } } });
    const held = stt.pool.processes?.[0] as number;
    await speak(stream, spoken('march fifth nineteen eighty two').samples);
    // Everything heard has been decoded; the decoder stops before the final pass.
    await new Promise((resolve) => setTimeout(resolve, 500));
    process.kill(held, 'SIGSTOP');
    stopped.push(held);
    const started = performance.now();
    expect((await stream.finish()).text).toBe('march fifth nineteen eighty two');
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(recoveries).toEqual([expect.objectContaining({ reason: 'hung', pid: held, ok: true })]);
  });

  it('a decoder that hangs on every attempt fails the utterance after two replacements, leaving no process behind', async () => {
    const recoveries: DecoderRecovery[] = [];
    const stt = await engine(recoveries);
    const stream = stt.createStream();
    const freeze = setInterval(() => {
      for (const pid of stt.pool.processes ?? []) {
        if (stopped.includes(pid)) continue;
        stopped.push(pid);
        process.kill(pid, 'SIGSTOP');
      }
    }, 20);
    try {
      await speak(stream, recording('goforward.wav').samples);
      const failure = await stream.finish().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DecoderLostError);
      expect((failure as DecoderLostError).code).toBe('engine_hung');
    } finally {
      clearInterval(freeze);
    }
    // One loss, two replacements that hung in turn, then the stream gives up (a fallback engine or the apology takes over).
    expect(recoveries).toEqual([expect.objectContaining({ ok: false, reason: 'hung', error: expect.stringMatching(/did not answer/) })]);
    expect(stopped.length).toBeGreaterThanOrEqual(3);
    await expect.poll(() => stt.pool.busy, { timeout: 10_000 }).toBe(0);
    // The stream's decoders were killed; a spare still loading (frozen too) goes at close.
    await stt.close();
    await expect.poll(() => stopped.filter(exists), { timeout: 5_000 }).toEqual([]);
  });

  it('decoder processes run at the engine priority (server.engineThreadNice), below the event loop, and get none of the server’s environment', async () => {
    const stt = await PocketSphinxStt.create({ modelDir: MODEL_DIR, nice: 10 });
    engines.push(stt);
    const pid = stt.pool.processes?.[0] as number;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 19 (nice), counted after the command name in parentheses.
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])).toBe(10);
    const environment = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((entry) => entry.split('=')[0] ?? '');
    // Node's own IPC variables (NODE_CHANNEL_*) aside.
    expect(environment.filter((name) => !name.startsWith('NODE_CHANNEL_')).sort()).toEqual(['HARKEN_DECODER_NICE', 'HARKEN_DECODER_PARENT', 'PATH']);
  });

  it('an idle decoder that dies is dropped from the pool, and the next utterance gets a working one', async () => {
    const stt = await engine([]);
    const idle = stt.pool.processes?.[0] as number;
    process.kill(idle, 'SIGKILL');
    await expect.poll(() => stt.pool.processes, { timeout: 5_000 }).toEqual([]);
    expect(stt.pool.idle).toBe(0);
    expect((await stt.transcribe(recording('goforward.wav'))).text).toBe('go forward ten meters');
  });
});
