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

  it('fails a call that overruns its limit with 504, marks a hung engine unhealthy after three in a row, and recovers', async () => {
    // No allowance per character: the paragraph below then stands for a hung engine.
    const server = await start({ HARKEN_TTS_TIMEOUT_MS: '1000', HARKEN_TTS_TIMEOUT_PER_UNIT_MS: '0', HARKEN_VOICE_MAX_SYNTHESIS_CHARS: '100000' });
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
    expect(engines).toMatchObject({ healthy: false, problem: expect.stringMatching(/^flite timed out 3 times in a row \(last \d+ s ago; counts as recovered 30 s after the last\)$/) });
    expect(engines.stages['tts.synthesize']).toMatchObject({ timeouts: 3 });

    expect((await server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: 'Hi.' } })).statusCode).toBe(200);
    expect((await server.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
  });

  it('lets a burst of the longest inputs callers may send finish, and never takes /ready to 503', async () => {
    const server = await start();
    // ~5,000 characters, the default voice.maxSynthesisChars: ~4 s of flite work each here.
    const long = 'The quick brown fox jumps over the lazy dog while the patient waits for the doctor. '.repeat(58);
    let polling = true;
    const readiness: number[] = [];
    const poller = (async () => {
      while (polling) {
        readiness.push((await server.inject({ method: 'GET', url: '/ready' })).statusCode);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const answers = await Promise.all([0, 1, 2, 3].map(() => server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: long } })));
    polling = false;
    await poller;
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 200, 200]);
    expect(readiness.length).toBeGreaterThan(5);
    expect(new Set(readiness)).toEqual(new Set([200]));
    expect((await server.inject({ method: 'GET', url: '/v1/admin/engines' })).json().stages['tts.synthesize']).toMatchObject({ calls: 4, timeouts: 0 });
  }, 120_000);

  it('transcribes a 100 s upload, and stops decoding at once when a recognition times out', async () => {
    // A generous allowance per second: the suite runs many files at once on two cores, and this
    // checks that long uploads are cut into pieces that finish, not how fast a loaded machine is.
    const server = await start({ HARKEN_STT_TIMEOUT_PER_UNIT_MS: '6000', HARKEN_VOICE_MAX_UPLOAD_BYTES: String(8 * 1024 * 1024) });
    // Real speech, one recording after another with a short pause, until there are 100 s of it.
    const files = ['1272-141231-0002.wav', '2412-153948-0000.wav', 'jfk.wav', 'librivox-0870.wav', '1089-134686-0001.wav', 'librivox-0930.wav', 'librivox-0880.wav', 'goforward.wav', 'LJ002-0020.wav'];
    const pause = new Int16Array(8_000);
    const parts: Int16Array[] = [];
    let total = 0;
    for (let index = 0; total < 100 * 16_000; index += 1) {
      const part = resample(recording(files[index % files.length] as string), 16_000).samples;
      parts.push(part, pause);
      total += part.length + pause.length;
    }
    const samples = new Int16Array(total);
    let offset = 0;
    for (const part of parts) {
      samples.set(part, offset);
      offset += part.length;
    }
    const hundredSeconds = encodeWav({ samples: samples.subarray(0, 100 * 16_000), sampleRate: 16_000 });
    const transcribed = await server.inject({ method: 'POST', url: '/v1/transcribe', headers: { 'content-type': 'audio/wav' }, payload: hundredSeconds });
    expect(transcribed.statusCode).toBe(200);
    expect(transcribed.json().text.split(' ').length).toBeGreaterThan(100);

    const hurried = await start({ HARKEN_STT_TIMEOUT_MS: '500', HARKEN_STT_TIMEOUT_PER_UNIT_MS: '0', HARKEN_VOICE_MAX_UPLOAD_BYTES: String(8 * 1024 * 1024) });
    const timedOut = await hurried.inject({ method: 'POST', url: '/v1/transcribe', headers: { 'content-type': 'audio/wav' }, payload: hundredSeconds });
    expect(timedOut.statusCode).toBe(504);
    // Every decoder is back in the pool soon: those still loading when time ran out finish loading
    // (one native call, bounded by stt.pocketsphinxMaxDecoders) and decode nothing; running decodes
    // stop within one 0.5 s chunk of audio. Left running, they would stay busy for ~20 s more.
    const pool = async () => (await hurried.inject({ method: 'GET', url: '/v1/admin/engines' })).json().sttPool;
    expect(await pool()).toMatchObject({ max: 4 });
    await expect.poll(async () => (await pool()).busy, { timeout: 8_000, interval: 100 }).toBe(0);
    expect(await pool()).toMatchObject({ waiting: 0 });
    // And nothing untracked runs on: the process is idle (decoding would use both cores).
    const before = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1000).toBeLessThan(500);
  }, 150_000);
});
