import { copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { levelDbfs } from '../../src/audio/pcm.js';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { startListeningServer, startTestServer } from '../helpers/harness.js';
import { SHARED_MODELS } from '../helpers/shared.js';
import { recording } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** An OpenAI-compatible server that fails every request with 500, as a broken provider does. */
const startBrokenProvider = async (): Promise<{ url: string; requests: () => number; close(): Promise<void> }> => {
  let requests = 0;
  const server: Server = createServer((request, response) => {
    requests += 1;
    request.resume();
    response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"provider is down","type":"server_error"}}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`, requests: () => requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
};

describe('engine fallback, the spoken apology, and load retries', () => {
  const tempDir = useTempDirs();
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const serve = async (env: Record<string, string>) => {
    const provider = await startBrokenProvider();
    cleanups.push(() => provider.close());
    const server = await startListeningServer(tempDir(), { ...env, ...Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value.replace('PROVIDER', provider.url)])) });
    cleanups.push(() => server.harken.close());
    const client = await RealtimeClient.connect({ url: server.wsUrl, credentials: server.apiKey, sampleRate: 16_000, agent: 'echo' });
    cleanups.push(() => client.close());
    return { provider, server, client };
  };

  it('a failing remote synthesiser: flite speaks instead, and /ready says so', async () => {
    const { provider, server, client } = await serve({
      HARKEN_TTS_ENGINE: 'openai',
      HARKEN_TTS_OPENAI_BASE_URL: 'PROVIDER',
      HARKEN_TTS_OPENAI_API_KEY: 'sk-test',
      HARKEN_TTS_RETRIES: '0',
      HARKEN_TTS_FALLBACK_ENGINE: 'flite',
    });
    await client.waitFor('audio_end', { timeoutMs: 15_000 });
    expect(provider.requests()).toBeGreaterThan(0);
    // The greeting was heard, in flite's voice at its own rate, resampled to what the session announced.
    expect(client.sessionReady!.outputSampleRate).toBe(24_000);
    expect(levelDbfs(client.receivedAudio.samples)).toBeGreaterThan(-40);
    const ready = (await server.inject({ method: 'GET', url: '/ready' })).json() as { status: string; warnings: Array<{ name: string; message: string }> };
    expect(ready.status).toBe('ready');
    expect(ready.warnings.find((warning) => warning.name === 'engines')?.message).toMatch(/^flite is answering for openai \(openai failed: /);
    expect(server.logs.text).toContain('speech synthesis: the fallback engine is answering');
  }, 60_000);

  it('a failing remote recogniser: PocketSphinx recognises the same utterance, nobody is asked to repeat', async () => {
    const { client } = await serve({
      HARKEN_STT_ENGINE: 'openai',
      HARKEN_STT_OPENAI_BASE_URL: 'PROVIDER',
      HARKEN_STT_OPENAI_API_KEY: 'sk-test',
      HARKEN_STT_RETRIES: '0',
      HARKEN_STT_FALLBACK_ENGINE: 'pocketsphinx',
    });
    await client.waitFor('audio_end');
    const mark = client.events.length;
    await client.streamAudio(recording('goforward.wav').samples);
    await client.streamSilence(1_500);
    const final = await client.waitFor('transcript', { after: mark, where: (event) => event.final, timeoutMs: 15_000 });
    expect(final.text).toMatch(/forward/);
    const reply = await client.waitFor('reply', { after: mark, where: (event) => event.final });
    expect(reply.text).toBe(`You said: ${final.text}`);
    expect(client.events.slice(mark).some((event) => event.type === 'error')).toBe(false);
  }, 60_000);

  it('without a fallback, a failed recognition is answered with the spoken apology, not silence', async () => {
    const { server, client } = await serve({ HARKEN_STT_ENGINE: 'openai', HARKEN_STT_OPENAI_BASE_URL: 'PROVIDER', HARKEN_STT_OPENAI_API_KEY: 'sk-test', HARKEN_STT_RETRIES: '0' });
    await client.waitFor('audio_end');
    const mark = client.events.length;
    const heardBefore = client.receivedAudio.samples.length;
    await client.streamAudio(recording('goforward.wav').samples);
    await client.streamSilence(1_500);
    const error = await client.waitFor('error', { after: mark, timeoutMs: 15_000 });
    expect(error.code).toBe('stt_failed');
    const apology = await client.waitFor('reply', { after: mark, where: (event) => event.final });
    expect(apology.text).toBe(server.config.voice.apologyText);
    await client.waitFor('audio_end', { after: mark });
    expect(levelDbfs(client.receivedAudio.samples.subarray(heardBefore))).toBeGreaterThan(-40);
    // Not stored: the agent did not say it.
    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${client.sessionReady!.conversationId}` })).json().messages as Array<{ text: string }>;
    expect(stored.map((message) => message.text)).not.toContain(server.config.voice.apologyText);
  }, 60_000);

  it('retries loading a model with back-off: one that appears a moment after the start is loaded', async () => {
    const dir = tempDir();
    const late = join(dir, 'silero-late.onnx');
    setTimeout(() => copyFileSync(join(SHARED_MODELS, 'vad', 'silero_vad_v4.onnx'), late), 300);
    const server = await startTestServer(tempDir(), { HARKEN_VAD_MODEL: late });
    cleanups.push(() => server.harken.close());
    expect(server.harken.voice?.engines.vad.name).toBe('silero');
    const retries = server.logs.lines.map((line) => JSON.parse(line) as { msg: string; attempt?: number; retryInMs?: number }).filter((line) => line.msg === 'loading the silero voice detector failed; retrying');
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]).toMatchObject({ attempt: 1, retryInMs: 500 });
  }, 30_000);
});
