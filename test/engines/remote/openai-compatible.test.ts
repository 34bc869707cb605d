import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { durationMs } from '../../../src/audio/pcm.js';
import { decodeWav, encodeWav } from '../../../src/audio/wav.js';
import { RemoteEngineError } from '../../../src/engines/remote/http-client.js';
import { OpenAiStt } from '../../../src/engines/remote/openai-stt.js';
import { OpenAiTts } from '../../../src/engines/remote/openai-tts.js';
import { startTestServer, voiceTestEnv } from '../../helpers/harness.js';
import { recording } from '../../helpers/speech.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A local server speaking the OpenAI audio API wire format: multipart
 * /v1/audio/transcriptions (verbose_json) and JSON /v1/audio/speech returning WAV.
 * `plan` scripts failures per request so retries and timeouts can be shown.
 */
type Step = 'ok' | 'unavailable' | 'unauthorized' | 'stall' | 'garbage';

describe('OpenAI-compatible remote speech engines', () => {
  let server: Server;
  let baseUrl: string;
  let plan: Step[];
  const seen: Array<{ path: string; authorization: string | undefined; fields: Record<string, string>; fileBytes?: number; json?: unknown }> = [];

  const readBody = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const step = plan.shift() ?? 'ok';
    const body = await readBody(request);
    if (step === 'stall') return; // never answers
    if (step === 'unavailable') return void response.writeHead(503, { 'retry-after': '0' }).end('{"error":{"message":"overloaded"}}');
    if (step === 'unauthorized') return void response.writeHead(401).end('{"error":{"message":"Incorrect API key provided"}}');
    if (request.url === '/v1/audio/transcriptions') {
      // Parse multipart exactly as a server would.
      const form = await new Response(body, { headers: { 'content-type': request.headers['content-type'] ?? '' } }).formData();
      const file = form.get('file') as File;
      const fields = Object.fromEntries([...form.entries()].filter(([, value]) => typeof value === 'string')) as Record<string, string>;
      const audio = decodeWav(new Uint8Array(await file.arrayBuffer()));
      seen.push({ path: request.url, authorization: request.headers.authorization, fields, fileBytes: file.size });
      if (step === 'garbage') return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"nope":true}');
      const seconds = audio.samples.length / audio.sampleRate;
      return void response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ task: 'transcribe', language: 'english', duration: seconds, text: ' Go forward ten meters.', segments: [{ id: 0, start: 0.3, end: seconds, text: ' Go forward ten meters.' }] }));
    }
    if (request.url === '/v1/audio/speech') {
      const json = JSON.parse(body.toString('utf8')) as { input: string };
      seen.push({ path: request.url, authorization: request.headers.authorization, fields: {}, json });
      if (step === 'garbage') return void response.writeHead(200, { 'content-type': 'audio/wav' }).end('not a wav');
      const samples = new Int16Array(24_000 * 0.5).map((_, index) => Math.round(Math.sin(index / 10) * 8000));
      return void response.writeHead(200, { 'content-type': 'audio/wav' }).end(encodeWav({ samples, sampleRate: 24_000 }));
    }
    response.writeHead(404).end();
  };

  beforeEach(async () => {
    plan = [];
    seen.length = 0;
    server = createServer((request, response) => void handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const stt = (overrides: Partial<ConstructorParameters<typeof OpenAiStt>[0]> = {}) =>
    new OpenAiStt({ baseUrl, apiKey: 'sk-test-secret', model: 'whisper-1', timeoutMs: 2000, retries: 2, ...overrides });
  const tts = (overrides: Partial<ConstructorParameters<typeof OpenAiTts>[0]> = {}) =>
    new OpenAiTts({ baseUrl, apiKey: 'sk-test-secret', model: 'tts-1', voices: ['alloy', 'nova'], sampleRate: 24_000, timeoutMs: 2000, retries: 2, ...overrides });

  it('sends the utterance as a multipart WAV upload and reads verbose_json', async () => {
    const audio = recording('goforward.wav');
    const transcript = await stt({ language: 'en' }).transcribe(audio, { hints: { expect: { type: 'choice', options: ['left', 'right'] } } });
    expect(transcript).toEqual({ text: 'Go forward ten meters.', segments: [{ text: 'Go forward ten meters.', startMs: 300, endMs: Math.round(durationMs(audio)) }] });
    expect(seen[0]).toMatchObject({
      authorization: 'Bearer sk-test-secret',
      fields: { model: 'whisper-1', response_format: 'verbose_json', language: 'en', prompt: 'left, right' },
      fileBytes: 44 + audio.samples.length * 2,
    });
  });

  it('streams by collecting the utterance and sending it once it ends', async () => {
    const stream = stt().createStream();
    const audio = recording('goforward.wav').samples;
    for (let offset = 0; offset < audio.length; offset += 320) stream.push(audio.subarray(offset, offset + 320));
    expect((await stream.finish()).text).toBe('Go forward ten meters.');
    expect(seen[0]?.fileBytes).toBe(44 + audio.length * 2);
  });

  it('retries overload and timeouts, then succeeds', async () => {
    plan = ['unavailable', 'stall', 'ok'];
    const transcript = await stt({ timeoutMs: 300 }).transcribe(recording('LJ002-0020.wav'));
    expect(transcript.text).toBe('Go forward ten meters.');
  });

  it('gives up with a clear error that never contains the key', async () => {
    plan = ['unavailable', 'unavailable', 'unavailable'];
    const failure = await stt().transcribe(recording('LJ002-0020.wav')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RemoteEngineError);
    expect((failure as Error).message).toMatch(/^openai: HTTP 503: .*overloaded.* \(after 3 attempts\)$/);
    plan = ['unauthorized'];
    const refused = await stt().transcribe(recording('LJ002-0020.wav')).catch((error: unknown) => error);
    expect((refused as Error).message).toBe('openai: the server refused the credentials (HTTP 401)');
    expect(`${(failure as Error).message} ${(refused as Error).message}`).not.toContain('sk-test-secret');
    plan = ['garbage'];
    await expect(stt().transcribe(recording('LJ002-0020.wav'))).rejects.toThrow('openai: the transcription response has no text');
    await expect(new OpenAiStt({ baseUrl: 'http://127.0.0.1:9', apiKey: 'x', model: 'm', timeoutMs: 500, retries: 0 }).transcribe(recording('LJ002-0020.wav'))).rejects.toThrow(
      /cannot reach http:\/\/127\.0\.0\.1:9/,
    );
  });

  it('synthesises through /audio/speech and returns the WAV it got', async () => {
    const audio = await tts().synthesize('Hello there.', { voice: 'nova' });
    expect(audio.sampleRate).toBe(24_000);
    expect(durationMs(audio)).toBe(500);
    expect(seen[0]?.json).toEqual({ model: 'tts-1', input: 'Hello there.', voice: 'nova', response_format: 'wav' });
    plan = ['garbage'];
    await expect(tts().synthesize('Hi')).rejects.toThrow(/not usable WAV audio/);
  });

  it('stops waiting when the caller aborts', async () => {
    plan = ['stall'];
    const controller = new AbortController();
    const pending = tts({ timeoutMs: 10_000 }).synthesize('Hello', { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toThrow(/abort/i);
  });

  it('serves a voice turn end to end with both remote engines configured, never logging the key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'harken-remote-'));
    const server = await startTestServer(dataDir, {
      ...voiceTestEnv(),
      HARKEN_STT_ENGINE: 'openai',
      HARKEN_STT_OPENAI_BASE_URL: baseUrl,
      HARKEN_STT_OPENAI_API_KEY: 'sk-live-never-log-me',
      HARKEN_TTS_ENGINE: 'openai',
      HARKEN_TTS_OPENAI_BASE_URL: baseUrl,
      HARKEN_TTS_OPENAI_API_KEY: 'sk-live-never-log-me',
      HARKEN_TTS_VOICE: 'nova',
      HARKEN_LOG_LEVEL: 'debug',
    });
    try {
      const response = await server.inject({ method: 'POST', url: '/v1/voice-chat?agent=echo', headers: { 'content-type': 'audio/wav' }, payload: encodeWav(recording('goforward.wav')) });
      expect(response.statusCode).toBe(200);
      expect(response.json().reply.text).toBe('You said: Go forward ten meters.');
      expect(decodeWav(Buffer.from(response.json().audio.base64, 'base64')).sampleRate).toBe(24_000);
      expect(seen.map((request) => request.path)).toEqual(['/v1/audio/transcriptions', '/v1/audio/speech']);
      expect(server.logs.text).not.toContain('sk-live-never-log-me');
    } finally {
      await server.harken.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
