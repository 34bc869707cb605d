import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resample } from '../../src/audio/resample.js';
import { decodeWav, encodeWav } from '../../src/audio/wav.js';
import { PocketSphinxStt } from '../../src/engines/stt/pocketsphinx/pocketsphinx-stt.js';
import { startListeningServer, type TestServer } from '../helpers/harness.js';
import { SHARED_AUDIO } from '../helpers/shared.js';
import { recording, referenceTranscript } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** A recording re-encoded by ffmpeg, as a phone or browser would upload it. */
const encoded = (file: string, extension: 'mp3' | 'ogg' | 'm4a'): Buffer => {
  const dir = mkdtempSync(join(tmpdir(), 'harken-openai-'));
  try {
    const out = join(dir, `speech.${extension}`);
    execFileSync('ffmpeg', ['-loglevel', 'error', '-i', join(SHARED_AUDIO, file), out]);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Decodes whatever the server returned back to PCM with ffmpeg: proves the bytes are real audio of that format. */
const decodedSeconds = (bytes: Buffer, inputFormat?: string): number => {
  const pcm = execFileSync('ffmpeg', ['-loglevel', 'error', ...(inputFormat ? ['-f', inputFormat, '-ar', '24000', '-ac', '1'] : []), '-i', 'pipe:0', '-f', 's16le', '-ac', '1', '-ar', '16000', 'pipe:1'], { input: bytes });
  return pcm.byteLength / 2 / 16_000;
};

describe('OpenAI-compatible speech API, driven by the official openai SDK', () => {
  const tempDir = useTempDirs();
  let server: TestServer & { url: string };
  let client: OpenAI;
  let raw: PocketSphinxStt;

  beforeAll(async () => {
    server = await startListeningServer(tempDir());
    const key = await server.createKey(['transcribe', 'synthesize']);
    client = new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 });
    raw = await PocketSphinxStt.create({ modelDir: '/usr/share/pocketsphinx/model/en-us' });
  });
  afterAll(async () => {
    await raw.close();
    await server.harken.close();
  });

  it('transcribes a WAV file with OpenAI’s model names: json, text, verbose_json with words and segments, srt, vtt', async () => {
    const file = () => toFile(readFileSync(join(SHARED_AUDIO, 'goforward.wav')), 'goforward.wav', { type: 'audio/wav' });
    const expected = referenceTranscript('goforward.wav');

    const json = await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1' });
    expect(json.text).toBe(expected);

    const text = await client.audio.transcriptions.create({ file: await file(), model: 'gpt-4o-mini-transcribe', response_format: 'text' });
    expect(text).toBe(`${expected}\n`);

    const verbose = await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1', response_format: 'verbose_json', timestamp_granularities: ['word', 'segment'], language: 'en' });
    expect(verbose).toMatchObject({ task: 'transcribe', language: 'english', text: expected });
    expect(verbose.duration).toBeCloseTo(recording('goforward.wav').samples.length / 16_000, 2);
    expect(verbose.words?.map((word) => word.word)).toEqual(expected.split(' '));
    // Times rise and lie inside the recording.
    const starts = verbose.words?.map((word) => word.start) ?? [];
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(verbose.words?.at(-1)?.end).toBeLessThanOrEqual(verbose.duration);
    expect(verbose.segments?.map((segment) => segment.text.trim()).join(' ')).toBe(expected);

    const srt = (await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1', response_format: 'srt' })) as unknown as string;
    expect(srt).toMatch(/^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n/);
    expect(srt.replace(/^\d+\n.*-->.*\n/gm, '').replace(/\s+/g, ' ').trim()).toBe(expected);

    const vtt = (await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1', response_format: 'vtt' })) as unknown as string;
    expect(vtt.startsWith('WEBVTT\n')).toBe(true);
    expect(vtt).toMatch(/\n\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n/);
  });

  it('transcribes mp3, ogg and m4a uploads through ffmpeg, as well as the raw engine does on the WAV', async () => {
    const expected = (await raw.transcribe(recording('goforward.wav'))).text;
    for (const extension of ['mp3', 'ogg', 'm4a'] as const) {
      const result = await client.audio.transcriptions.create({ file: await toFile(encoded('goforward.wav', extension), `speech.${extension}`), model: 'whisper-1' });
      expect(result.text, extension).toBe(expected);
    }
  });

  it('refuses what it cannot do with OpenAI-shaped errors the SDK understands', async () => {
    const wav = () => toFile(readFileSync(join(SHARED_AUDIO, 'goforward.wav')), 'a.wav');
    const failure = async (promise: Promise<unknown>) => (await promise.then(() => undefined, (error: unknown) => error)) as InstanceType<typeof OpenAI.APIError>;

    const unknownModel = await failure(client.audio.transcriptions.create({ file: await wav(), model: 'whisper-9000' }));
    expect(unknownModel).toBeInstanceOf(OpenAI.BadRequestError);
    expect(unknownModel.error).toMatchObject({ type: 'invalid_request_error', param: 'model', code: 'model_not_found' });

    const french = await failure(client.audio.transcriptions.create({ file: await wav(), model: 'whisper-1', language: 'fr' }));
    expect(french.error).toMatchObject({ param: 'language', code: 'unsupported_language' });

    const notAudio = await failure(client.audio.transcriptions.create({ file: await toFile(Buffer.from('this is not audio at all'), 'notes.mp3'), model: 'whisper-1' }));
    expect(notAudio.status).toBe(415);
    expect(notAudio.error).toMatchObject({ type: 'invalid_request_error', param: 'file', code: 'unsupported_media_type' });

    const badFormat = await failure(client.audio.transcriptions.create({ file: await wav(), model: 'whisper-1', response_format: 'docx' as 'json' }));
    expect(badFormat.error).toMatchObject({ param: 'response_format' });

    const badVoice = await failure(client.audio.speech.create({ model: 'tts-1', voice: 'nobody' as 'alloy', input: 'hello' }));
    expect(badVoice.error).toMatchObject({ param: 'voice', code: 'invalid_value' });
  });

  it('speaks with OpenAI’s model and voice names: wav and pcm at 24 kHz, mp3/opus/aac/flac through ffmpeg, speed honoured', async () => {
    const input = 'Your appointment is confirmed for Tuesday at ten. Please bring your insurance card.';
    const wav = decodeWav(Buffer.from(await (await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, response_format: 'wav' })).arrayBuffer()));
    expect(wav.sampleRate).toBe(24_000);
    const seconds = wav.samples.length / 24_000;
    expect(seconds).toBeGreaterThan(3);
    // What was said comes back out of the recogniser.
    const heard = await raw.transcribe(resample(wav, 16_000));
    expect(heard.text).toMatch(/appointment|insurance|tuesday/);

    const pcm = Buffer.from(await (await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input, response_format: 'pcm' })).arrayBuffer());
    expect(pcm.byteLength / 2 / 24_000).toBeCloseTo(seconds, 1);

    for (const format of ['mp3', 'opus', 'aac', 'flac'] as const) {
      const response = await client.audio.speech.create({ model: 'tts-1-hd', voice: 'nova', input, response_format: format });
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(Math.abs(decodedSeconds(bytes) - seconds), format).toBeLessThan(0.2);
    }

    // A man's voice for echo (flite rms), a different sound from alloy's slt.
    const echo = decodeWav(Buffer.from(await (await client.audio.speech.create({ model: 'tts-1', voice: 'echo', input: 'hello there', response_format: 'wav' })).arrayBuffer()));
    const alloy = decodeWav(Buffer.from(await (await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hello there', response_format: 'wav' })).arrayBuffer()));
    expect(encodeWav(echo).equals(encodeWav(alloy))).toBe(false);

    const slow = decodeWav(Buffer.from(await (await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, response_format: 'wav', speed: 0.5 })).arrayBuffer()));
    expect(slow.samples.length / 24_000).toBeGreaterThan(seconds * 1.6);
  });

  it('lists the models it answers to', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    expect(models).toEqual(expect.arrayContaining(['whisper-1', 'gpt-4o-transcribe', 'tts-1', 'gpt-4o-mini-tts', 'pocketsphinx', 'flite']));
    expect((await client.models.retrieve('whisper-1')).owned_by).toBe('harken (pocketsphinx)');
    const missing = await client.models.retrieve('gpt-5').then(() => undefined, (error: unknown) => error);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
