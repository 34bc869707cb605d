import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durationMs, int16ToBytes } from '../../src/audio/pcm.js';
import { resample } from '../../src/audio/resample.js';
import { decodeWav, encodeWav } from '../../src/audio/wav.js';
import { startTestServer, voiceTestEnv, type TestServer } from '../helpers/harness.js';
import { SHARED_AUDIO } from '../helpers/shared.js';
import { recording, referenceTranscript, spoken } from '../helpers/speech.js';
import { wordErrorRate } from '../../src/eval/word-error-rate.js';

describe('HTTP voice APIs', () => {
  let server: TestServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'harken-voice-'));
    server = await startTestServer(dataDir, { ...voiceTestEnv(), HARKEN_VOICE_MAX_UPLOAD_BYTES: String(2 * 1024 * 1024), HARKEN_VOICE_MAX_UPLOAD_DURATION_MS: '30000' });
  });
  afterAll(async () => {
    await server.harken.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const post = (url: string, payload: Buffer | string | object, contentType?: string) =>
    server.inject({ method: 'POST', url, payload: payload as never, ...(contentType ? { headers: { 'content-type': contentType } } : {}) });

  it('transcribes real recordings sent as WAV, with word timings', async () => {
    const files = ['1089-134686-0001.wav', 'librivox-0880.wav', 'LJ002-0020.wav', 'goforward.wav'];
    let reference = '';
    let heard = '';
    for (const file of files) {
      const response = await post('/v1/transcribe', readFileSync(join(SHARED_AUDIO, file)), 'audio/wav');
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.durationMs).toBe(Math.round(durationMs(recording(file))));
      expect(body.segments.map((segment: { text: string }) => segment.text).join(' ')).toBe(body.text);
      expect(body.segments.every((segment: { startMs: number; endMs: number }) => segment.endMs > segment.startMs && segment.endMs <= body.durationMs + 50)).toBe(true);
      reference += ` ${referenceTranscript(file)}`;
      heard += ` ${body.text}`;
    }
    // PocketSphinx's open-vocabulary WER on read speech is ~43 % (README of ../shared/models).
    expect(wordErrorRate(reference, heard)).toBeLessThan(0.5);
  }, 60_000);

  it('accepts raw PCM at any rate, little-endian (audio/pcm) and big-endian (audio/L16)', async () => {
    const audio = resample(recording('goforward.wav'), 22_050);
    const little = await post('/v1/transcribe?sampleRate=22050', int16ToBytes(audio.samples), 'audio/pcm');
    expect(little.statusCode).toBe(200);
    expect(little.json().text).toMatch(/forward/);
    const big = await post('/v1/transcribe', Buffer.from(int16ToBytes(audio.samples)).swap16(), 'audio/L16; rate=22050');
    expect(big.statusCode).toBe(200);
    expect(big.json().text).toBe(little.json().text);
  });

  it('recognises a constrained answer with a grammar hint', async () => {
    const response = await post('/v1/transcribe?expect=date', encodeWav(spoken('march fifth nineteen eighty two')), 'audio/wav');
    expect(response.json().text).toBe('march fifth nineteen eighty two');
  });

  it.each([
    ['an MP3-like body', Buffer.from('ID3\u0003\u0000 not audio we read'), 'audio/wav', 415, 'unsupported_media_type'],
    ['an unknown content type', Buffer.from('x'), 'audio/ogg', 415, 'unsupported_media_type'],
    ['raw PCM without a rate', Buffer.alloc(3200), 'audio/pcm', 400, 'sample_rate_required'],
    ['an odd number of PCM bytes', Buffer.alloc(3201), 'audio/pcm;rate=16000', 415, 'unsupported_media_type'],
    ['an empty WAV', encodeWav({ samples: new Int16Array(0), sampleRate: 16000 }), 'audio/wav', 400, 'empty_audio'],
    ['a body over the size limit', Buffer.alloc(3 * 1024 * 1024), 'audio/pcm;rate=16000', 413, 'payload_too_large'],
  ])('rejects %s', async (_name, body, type, status, code) => {
    const response = await post('/v1/transcribe', body, type);
    expect(response.statusCode).toBe(status);
    expect(response.json().error.code).toBe(code);
  });

  it('rejects audio longer than the duration limit with 413', async () => {
    const long = encodeWav({ samples: new Int16Array(8000 * 31), sampleRate: 8000 }); // 31 s but under the byte limit
    const response = await post('/v1/transcribe', long, 'audio/wav');
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('audio_too_long');
  });

  it('synthesises speech that the recogniser understands', async () => {
    const response = await post('/v1/synthesize', { text: 'Yes I do.' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('audio/wav');
    const audio = decodeWav(response.rawPayload);
    expect(audio.sampleRate).toBe(16_000);
    expect(durationMs(audio)).toBeGreaterThan(500);
    const heard = await post('/v1/transcribe?expect=yesno', response.rawPayload, 'audio/wav');
    expect(heard.json().text).toBe('yes i do');
  });

  it('rejects bad synthesis requests', async () => {
    expect((await post('/v1/synthesize', { text: 'hi', voice: 'darth' })).json().error.code).toBe('unknown_voice');
    expect((await post('/v1/synthesize', { text: '   ' })).json().error.code).toBe('empty_text');
    expect((await post('/v1/synthesize', { text: 'x'.repeat(5001) })).statusCode).toBe(400);
    expect((await post('/v1/synthesize', { words: 'hi' })).statusCode).toBe(400);
  });

  it('answers a spoken turn with transcript, reply text and reply audio, continuing the conversation', async () => {
    const first = await post('/v1/voice-chat?agent=echo', encodeWav(spoken('hello there')), 'audio/wav');
    expect(first.statusCode).toBe(200);
    const body = first.json();
    expect(body.greeting).toMatch(/Echo agent ready/);
    expect(body.transcript.text).toBe('hello there');
    expect(body.reply.text).toBe('You said: hello there');
    const audio = decodeWav(Buffer.from(body.audio.base64, 'base64'));
    expect(durationMs(audio)).toBeGreaterThan(500);

    const second = await post(`/v1/voice-chat?conversationId=${body.conversationId}`, encodeWav(spoken('go forward ten meters')), 'audio/wav');
    expect(second.statusCode).toBe(200);
    expect(second.json().greeting).toBeNull();
    const history = (await server.inject({ method: 'GET', url: `/v1/conversations/${body.conversationId}` })).json();
    expect(history.messages.filter((message: { source: string; role: string }) => message.role === 'user' && message.source === 'voice')).toHaveLength(2);
  });

  it('says so when the audio holds no speech, and 404s an unknown conversation', async () => {
    const quiet = await post('/v1/voice-chat?agent=echo', encodeWav({ samples: new Int16Array(16000), sampleRate: 16000 }), 'audio/wav');
    expect(quiet.statusCode).toBe(422);
    expect(quiet.json().error.code).toBe('no_speech');
    const unknown = await post('/v1/voice-chat?conversationId=00000000-0000-4000-8000-000000000000', encodeWav(spoken('hello')), 'audio/wav');
    expect(unknown.statusCode).toBe(404);
  });
});
