import { afterEach, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/audio/wav.js';
import { resample } from '../../src/audio/resample.js';
import { startTestServer, voiceTestEnv, type TestServer } from '../helpers/harness.js';
import { recording } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('the shared engine guard: resampling, time limits, health and per-stage statistics', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const start = async (env: Record<string, string> = {}) => {
    const server = await startTestServer(tempDir(), { ...voiceTestEnv(), ...env });
    servers.push(server);
    return server;
  };

  it('resamples any input rate once and counts every stage', async () => {
    const server = await start();
    const telephone = resample(recording('goforward.wav'), 8_000);
    const transcribed = await server.inject({ method: 'POST', url: '/v1/transcribe', headers: { 'content-type': 'audio/wav' }, payload: encodeWav(telephone) });
    expect(transcribed.statusCode).toBe(200);
    expect(transcribed.json().text).toMatch(/forward/);
    expect((await server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: 'Hello there.' } })).statusCode).toBe(200);

    const engines = (await server.inject({ method: 'GET', url: '/v1/admin/engines' })).json();
    expect(engines).toMatchObject({ vad: 'silero', stt: 'pocketsphinx', tts: 'flite', healthy: true });
    expect(engines.stages['stt.transcribe']).toMatchObject({ calls: 1, failures: 0, timeouts: 0 });
    expect(engines.stages['stt.transcribe'].p50Ms).toBeGreaterThan(0);
    expect(engines.stages['tts.synthesize'].calls).toBeGreaterThanOrEqual(1);
  });

  it('fails a call that overruns its limit with 504, marks the engine unhealthy after three in a row, and recovers', async () => {
    const server = await start({ HARKEN_TTS_TIMEOUT_MS: '1000', HARKEN_VOICE_MAX_SYNTHESIS_CHARS: '100000' });
    // This paragraph takes flite ~3.8 s here; "Hi." takes ~35 ms, so the limit holds either way even on a busy machine.
    const long = 'The quick brown fox jumps over the lazy dog while the patient waits for the doctor. '.repeat(60);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const response = await server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: long } });
      expect(response.statusCode).toBe(504);
      expect(response.json().error).toEqual({ code: 'engine_timeout', message: 'flite did not finish a sentence within 1000 ms; try again' });
    }
    const ready = await server.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().error.message).toMatch(/flite timed out 3 times in a row/);
    const engines = (await server.inject({ method: 'GET', url: '/v1/admin/engines' })).json();
    expect(engines).toMatchObject({ healthy: false, problem: 'flite timed out 3 times in a row' });
    expect(engines.stages['tts.synthesize']).toMatchObject({ timeouts: 3 });

    expect((await server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: 'Hi.' } })).statusCode).toBe(200);
    expect((await server.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
  });
});
