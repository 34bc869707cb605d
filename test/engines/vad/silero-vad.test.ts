import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeWav } from '../../../src/audio/wav.js';
import { EngineUnavailableError } from '../../../src/engines/engine-errors.js';
import { SileroVad } from '../../../src/engines/vad/silero/silero-vad.js';
import type { VadEvent } from '../../../src/engines/vad/voice-activity.js';
import { SHARED_AUDIO, SHARED_MODELS } from '../../helpers/shared.js';

const options = { model: '', modelsDir: '/nonexistent', threshold: 0.5, minSpeechMs: 250, minSilenceMs: 500 };

describe('Silero VAD through sherpa-onnx', () => {
  const eventsOf = (vad: SileroVad, samples: Int16Array): VadEvent[] => {
    const stream = vad.createStream();
    const events: VadEvent[] = [];
    for (let offset = 0; offset < samples.length; offset += 320) events.push(...stream.push(samples.subarray(offset, offset + 320)));
    stream.close();
    return events;
  };

  it('reuses detectors between streams without carrying state over', () => {
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
