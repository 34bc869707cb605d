import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectSherpaSttLayout, type StreamingLayout } from '../../../src/engines/stt/sherpa/model-layout.js';
import { SherpaOnlineStt } from '../../../src/engines/stt/sherpa/sherpa-online-stt.js';
import { EngineUnavailableError } from '../../../src/engines/engine-errors.js';
import { findModel } from '../../../src/models/catalog.js';
import { writeFileSync } from 'node:fs';
import { startTestServer, voiceTestEnv, type TestServer } from '../../helpers/harness.js';
import { longestEventLoopGapDuring } from '../../helpers/event-loop.js';
import { writeStreamingCtcModel } from '../../helpers/plumbing-onnx.js';
import { recording } from '../../helpers/speech.js';
import { useTempDirs } from '../../helpers/temp-dir.js';
import { encodeWav } from '../../../src/audio/wav.js';

/**
 * A streaming zipformer2 CTC graph with untrained weights (written by the test): the words are
 * noise, but every step of the real engine runs — model loading on the recogniser thread,
 * streaming, partials, finals, cancellation.
 */
describe('sherpa-onnx streaming recogniser (plumbing CTC model)', () => {
  const tempDir = useTempDirs();
  const engines: SherpaOnlineStt[] = [];
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const plumbing = (): string => {
    const dir = join(tempDir(), 'ctc');
    writeStreamingCtcModel(dir);
    return dir;
  };
  const create = async (dir = plumbing()) => {
    const engine = await SherpaOnlineStt.create({ layout: detectSherpaSttLayout(dir) as StreamingLayout, numThreads: 1 });
    engines.push(engine);
    return engine;
  };

  it('recognises a folder shaped like the official CTC release', () => {
    const dir = tempDir();
    for (const file of findModel('sherpa-onnx-streaming-zipformer-ctc-small-2024-03-18')?.files ?? []) writeFileSync(join(dir, file), '');
    expect(detectSherpaSttLayout(dir)).toEqual({ kind: 'streaming-ctc', model: join(dir, 'ctc-epoch-30-avg-3-chunk-16-left-128.int8.onnx'), tokens: join(dir, 'tokens.txt') });
  });

  it('streams audio on its own thread with partials, then a final transcript', async () => {
    const engine = await create();
    expect(engine.name).toBe('sherpa-streaming-ctc');
    expect(engine.capabilities).toEqual({ streaming: true, interimResults: true, hints: false });
    const audio = recording('goforward.wav');
    const partials: string[] = [];
    let final!: Awaited<ReturnType<ReturnType<typeof engine.createStream>['finish']>>;
    const gap = await longestEventLoopGapDuring(async () => {
      const stream = engine.createStream({ onPartial: (text) => partials.push(text) });
      for (let offset = 0; offset < audio.samples.length; offset += 1_600) {
        stream.push(audio.samples.subarray(offset, offset + 1_600));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      final = await stream.finish();
    });
    expect(partials.length).toBeGreaterThan(1);
    expect(final.text.length).toBeGreaterThan(0);
    // Partials grow toward the final text.
    expect(final.text.startsWith(partials[0] as string)).toBe(true);
    expect(final.segments).toEqual([{ text: final.text, startMs: expect.any(Number), endMs: Math.round((audio.samples.length / 16_000) * 1000) }]);
    expect(gap).toBeLessThan(50);
    expect(engine.openStreams).toBe(0);
  });

  it('gives the same text for the same audio, keeps concurrent streams apart, and forgets cancelled ones', async () => {
    const engine = await create();
    const audio = recording('goforward.wav');
    const whole = await engine.transcribe(audio);
    const [first, second] = await Promise.all([engine.transcribe(audio), engine.transcribe(audio)]);
    expect(first?.text).toBe(whole.text);
    expect(second?.text).toBe(whole.text);
    const cancelled = engine.createStream();
    cancelled.push(audio.samples.subarray(0, 16_000));
    cancelled.cancel();
    expect(engine.openStreams).toBe(0);
    await expect(cancelled.finish()).rejects.toThrow('the utterance was already cancelled');
    await expect(engine.transcribe({ samples: audio.samples, sampleRate: 8_000 })).rejects.toThrow(/need 16000 Hz audio/);
  });

  it('reports a dead recogniser thread, and a model sherpa cannot load', async () => {
    const engine = await create();
    expect(() => engine.check()).not.toThrow();
    await engine.close();
    expect(() => engine.check()).toThrow('the speech recogniser is closed');

    const broken = plumbing();
    writeFileSync(join(broken, 'ctc-epoch-1-avg-1.onnx'), 'not an onnx model');
    // sherpa-onnx would exit the process on this; the probe turns it into one clear error.
    const failure = (await create(broken).catch((error: unknown) => error)) as EngineUnavailableError;
    expect(failure).toBeInstanceOf(EngineUnavailableError);
    expect(failure.message).toMatch(/^sherpa-onnx cannot load the model: .*(Protobuf|parsing|Load model)/i);
    expect(failure.fix).toMatch(/harken models pull/);
  });

  it('serves /v1/transcribe when configured as the recogniser', async () => {
    const server = await startTestServer(tempDir(), { ...voiceTestEnv(), HARKEN_STT_ENGINE: 'sherpa', HARKEN_STT_SHERPA_MODEL_DIR: plumbing() });
    servers.push(server);
    const response = await server.inject({ method: 'POST', url: '/v1/transcribe', headers: { 'content-type': 'audio/wav' }, payload: encodeWav(recording('goforward.wav')) });
    expect(response.statusCode).toBe(200);
    expect(response.json().text.length).toBeGreaterThan(0);
    const ready = (await server.inject({ method: 'GET', url: '/ready' })).json();
    expect(ready.checks.map((check: { name: string }) => check.name)).toContain('engines (silero, sherpa-streaming-ctc, flite)');
  });
});
