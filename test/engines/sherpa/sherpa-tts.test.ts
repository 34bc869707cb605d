import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { levelDbfs } from '../../../src/audio/pcm.js';
import { EngineUnavailableError } from '../../../src/engines/engine-errors.js';
import { detectSherpaTtsLayout, SherpaTts } from '../../../src/engines/tts/sherpa/sherpa-tts.js';
import { startTestServer, voiceTestEnv } from '../../helpers/harness.js';
import { SHARED_MODELS } from '../../helpers/shared.js';
import { useTempDirs } from '../../helpers/temp-dir.js';
import { longestEventLoopGapDuring } from '../../helpers/event-loop.js';

const DEBIAN_ESPEAK = '/usr/lib/x86_64-linux-gnu/espeak-ng-data';
/** An untrained Piper-shaped graph with a real Piper tokens.txt: proves the code path, says a buzz, not speech. */
const PLUMBING = `${SHARED_MODELS}/tts-plumbing`;

describe('sherpa-onnx text to speech: Piper/VITS and Kokoro (plumbing model)', () => {
  const tempDir = useTempDirs();

  it('loads a model folder and synthesises audio at the model’s rate, off the event loop', async () => {
    const tts = await SherpaTts.create({ modelDir: PLUMBING, fallbackDataDir: DEBIAN_ESPEAK });
    expect(tts.sampleRate).toBe(16_000);
    expect(tts.name).toBe('sherpa-vits');
    let audio!: Awaited<ReturnType<typeof tts.synthesize>>;
    const gap = await longestEventLoopGapDuring(async () => {
      audio = await tts.synthesize('Hello world. This is a longer sentence to keep the engine busy for a while.');
    });
    expect(audio.sampleRate).toBe(16_000);
    expect(audio.samples.length).toBeGreaterThan(4000);
    expect(levelDbfs(audio.samples)).toBeGreaterThan(-40);
    expect(gap).toBeLessThan(100);
    await expect(tts.synthesize('hi', { voice: '3' })).rejects.toThrow('this model has no speaker "3"; speakers: 0–0');
    await tts.close();
  });

  it('names what is missing: the folder, the .onnx file, tokens.txt', async () => {
    const failure = async (modelDir: string): Promise<EngineUnavailableError> => {
      try {
        await SherpaTts.create({ modelDir, fallbackDataDir: DEBIAN_ESPEAK });
      } catch (error) {
        return error as EngineUnavailableError;
      }
      throw new Error(`expected ${modelDir} to be refused`);
    };
    const missing = await failure('/nowhere/voice');
    expect(missing).toBeInstanceOf(EngineUnavailableError);
    expect(missing.message).toBe('TTS model folder /nowhere/voice does not exist');
    expect(missing.fix).toMatch(/harken models pull vits-piper-en_US-amy-low/);
    const empty = tempDir();
    expect((await failure(empty)).message).toMatch(/must hold exactly one \.onnx file \(found 0\)/);
    const noTokens = tempDir();
    cpSync(join(PLUMBING, 'dummy-piper-en_US.onnx'), join(noTokens, 'voice.onnx'));
    expect((await failure(noTokens)).message).toMatch(/tokens\.txt is missing/);
    const garbage = tempDir();
    cpSync(PLUMBING, garbage, { recursive: true });
    writeFileSync(join(garbage, 'dummy-piper-en_US.onnx'), 'not a model');
    expect((await failure(garbage)).message).toMatch(/^sherpa-onnx cannot load the model: /);
  });

  it('tells a Kokoro folder (voices.bin) from a Piper/VITS one', () => {
    const kokoro = tempDir();
    cpSync(PLUMBING, kokoro, { recursive: true });
    writeFileSync(join(kokoro, 'voices.bin'), new Uint8Array(16));
    expect(detectSherpaTtsLayout({ modelDir: kokoro, fallbackDataDir: DEBIAN_ESPEAK })).toEqual({
      kind: 'kokoro',
      model: join(kokoro, 'dummy-piper-en_US.onnx'),
      voices: join(kokoro, 'voices.bin'),
      tokens: join(kokoro, 'tokens.txt'),
      dataDir: DEBIAN_ESPEAK,
    });
    mkdirSync(join(kokoro, 'espeak-ng-data'));
    expect(detectSherpaTtsLayout({ modelDir: kokoro, fallbackDataDir: DEBIAN_ESPEAK }).dataDir).toBe(join(kokoro, 'espeak-ng-data'));
    expect(detectSherpaTtsLayout({ modelDir: PLUMBING, fallbackDataDir: DEBIAN_ESPEAK }).kind).toBe('vits');
  });

  it('speaks replies through the server when configured', async () => {
    const dataDir = tempDir();
    const modelDir = join(dataDir, 'voice');
    mkdirSync(modelDir);
    cpSync(PLUMBING, modelDir, { recursive: true });
    const server = await startTestServer(dataDir, { ...voiceTestEnv(), HARKEN_TTS_ENGINE: 'sherpa', HARKEN_TTS_SHERPA_MODEL_DIR: modelDir });
    try {
      const response = await server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: 'Hello there.' } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('audio/wav');
      expect(response.rawPayload.length).toBeGreaterThan(44 + 2000);
    } finally {
      await server.harken.close();
    }
  });
});
