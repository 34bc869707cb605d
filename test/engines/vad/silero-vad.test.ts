import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeWav } from '../../../src/audio/wav.js';
import { EngineUnavailableError } from '../../../src/engines/engine-errors.js';
import { SileroVad } from '../../../src/engines/vad/silero/silero-vad.js';
import type { VadEvent } from '../../../src/engines/vad/voice-activity.js';
import { SHARED_AUDIO, SHARED_MODELS } from '../../helpers/shared.js';

const options = { model: '', modelsDir: '/nonexistent', threshold: 0.5, minSpeechMs: 250, minSilenceMs: 500 };

describe('Silero VAD (one shared ONNX Runtime model)', () => {
  const eventsOf = (vad: SileroVad, samples: Int16Array): VadEvent[] => {
    const stream = vad.createStream();
    const events: VadEvent[] = [];
    for (let offset = 0; offset < samples.length; offset += 320) events.push(...stream.push(samples.subarray(offset, offset + 320)));
    stream.close();
    return events;
  };

  it('starts every stream fresh: no state carried over from an earlier stream', () => {
    const vad = SileroVad.create({ ...options, model: `${SHARED_MODELS}/vad/silero_vad_v4.onnx` });
    const audio = decodeWav(readFileSync(`${SHARED_AUDIO}/goforward.wav`)).samples;
    // Stop mid-speech, so a detector that kept its state would start the next stream "speaking".
    const interrupted = vad.createStream();
    interrupted.push(audio.subarray(0, 20_000));
    expect(interrupted.speaking).toBe(true);
    interrupted.close();
    expect(eventsOf(vad, audio)).toEqual(eventsOf(SileroVad.create({ ...options, model: `${SHARED_MODELS}/vad/silero_vad_v4.onnx` }), audio));
  });

  it('finds the three spoken phrases of vad-test-concat.wav at their real times, fed in 20 ms chunks', () => {
    const audio = decodeWav(readFileSync(`${SHARED_AUDIO}/vad-test-concat.wav`));
    const events = eventsOf(SileroVad.create({ ...options, model: `${SHARED_MODELS}/vad/silero_vad_v4.onnx` }), audio.samples);
    const starts = events.filter((event) => event.type === 'speech_start').map((event) => event.atMs / 1000);
    const ends = events.filter((event) => event.type === 'speech_end').map((event) => event.atMs / 1000);
    // Speech is at about 1.0–3.8, 5.3–8.3 and 9.3–12.6 s; detection lags the start by ~minSpeech and the end by ~minSilence.
    expect(starts).toHaveLength(3);
    expect(ends).toHaveLength(3);
    [1.0, 5.3, 9.3].forEach((start, index) => expect(Math.abs((starts[index] as number) - start)).toBeLessThan(0.9));
    [3.8, 8.3, 12.6].forEach((end, index) => expect(Math.abs((ends[index] as number) - end)).toBeLessThan(1.0));
  });

  it('uses the Silero model shipped in the npm package when none is configured', () => {
    const vad = SileroVad.create(options);
    expect(vad.model).toMatch(/@ricky0123\/vad-web\/dist\/silero_vad_legacy\.onnx$/);
    const stream = vad.createStream();
    expect(stream.push(new Int16Array(16_000))).toEqual([]);
    expect(stream.speaking).toBe(false);
    stream.close();
  });

  it.each(['v4', 'v5'])('runs many streams on one loaded %s model, interleaved, each as if it were alone', (version) => {
    const vad = SileroVad.create({ ...options, model: `${SHARED_MODELS}/vad/silero_vad_${version}.onnx` });
    const phrases = decodeWav(readFileSync(`${SHARED_AUDIO}/vad-test-concat.wav`)).samples;
    const other = decodeWav(readFileSync(`${SHARED_AUDIO}/goforward.wav`)).samples;
    const alone = [eventsOf(vad, phrases), eventsOf(vad, other)];
    expect(alone[0]?.filter((event) => event.type === 'speech_start')).toHaveLength(3);
    const streams = [vad.createStream(), vad.createStream()];
    const interleaved: VadEvent[][] = [[], []];
    for (let offset = 0; offset < Math.max(phrases.length, other.length); offset += 320) {
      [phrases, other].forEach((audio, index) => {
        if (offset < audio.length) interleaved[index]?.push(...(streams[index]?.push(audio.subarray(offset, offset + 320)) ?? []));
      });
    }
    streams.forEach((stream) => stream.close());
    expect(interleaved).toEqual(alone);
  });

  it('holds only a recurrent state per stream: 100 speaking streams add a few MB, not a model each', () => {
    const vad = SileroVad.create({ ...options, model: `${SHARED_MODELS}/vad/silero_vad_v5.onnx` });
    const speech = decodeWav(readFileSync(`${SHARED_AUDIO}/goforward.wav`)).samples.subarray(0, 16_000);
    const resident = () => Number(/Rss:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1]) / 1024;
    vad.createStream().push(speech);
    const before = resident();
    const streams = Array.from({ length: 100 }, () => vad.createStream());
    streams.forEach((stream) => stream.push(speech));
    // A detector with its own model session took 7.8 MB (780 MB for these 100).
    expect(resident() - before).toBeLessThan(20);
    streams.forEach((stream) => stream.close());
  });

  it('keeps the runtime loaded through garbage collection (a collected library handle would unmap it)', () => {
    // Run in a child with --expose-gc: collections between runs are what crashed the process.
    const script = `
      import { readFileSync } from 'node:fs';
      import { decodeWav } from './src/audio/wav.ts';
      import { SileroVad } from './src/engines/vad/silero/silero-vad.ts';
      const vad = SileroVad.create(${JSON.stringify({ ...options, model: `${SHARED_MODELS}/vad/silero_vad_v5.onnx` })});
      const speech = decodeWav(readFileSync(${JSON.stringify(`${SHARED_AUDIO}/goforward.wav`)})).samples.subarray(0, 16_000);
      let starts = 0;
      for (let round = 0; round < 20; round += 1) {
        const stream = vad.createStream();
        starts += stream.push(speech).filter((event) => event.type === 'speech_start').length;
        stream.close();
        globalThis.gc();
      }
      process.stdout.write(String(starts));`;
    const output = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(Number(output)).toBe(20);
  });

  it('refuses a corrupt model file with the fix, and the process lives on', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'harken-vad-')), 'silero_vad.onnx');
    writeFileSync(path, Buffer.alloc(4096, 7));
    try {
      SileroVad.create({ ...options, model: path });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EngineUnavailableError);
      expect((error as Error).message).toMatch(/could not be loaded/);
      expect((error as EngineUnavailableError).fix).toMatch(/harken models pull silero-vad/);
    }
  });

  it('refuses a missing model file with the fix, instead of silently detecting nothing', () => {
    try {
      SileroVad.create({ ...options, model: '/nowhere/silero.onnx' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EngineUnavailableError);
      expect((error as EngineUnavailableError).fix).toMatch(/harken models pull silero-vad/);
    }
  });
});
