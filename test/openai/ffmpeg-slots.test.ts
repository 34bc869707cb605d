import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startListeningServer, type TestServer } from '../helpers/harness.js';
import { childProcesses } from '../helpers/processes.js';
import { SHARED_AUDIO } from '../helpers/shared.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const mp3Of = (file: string): Buffer => {
  const dir = mkdtempSync(join(tmpdir(), 'harken-ffmpeg-'));
  try {
    execFileSync('ffmpeg', ['-loglevel', 'error', '-i', join(SHARED_AUDIO, file), join(dir, 'a.mp3')]);
    return readFileSync(join(dir, 'a.mp3'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const ffmpegChildren = () => childProcesses(process.pid, /ffmpeg/);

describe('ffmpeg on the OpenAI-compatible routes is bounded server-wide and dies with its request', () => {
  const tempDir = useTempDirs();
  let server: TestServer & { url: string };
  let key: string;

  beforeAll(async () => {
    server = await startListeningServer(tempDir(), { HARKEN_VOICE_FFMPEG_MAX_CONCURRENT: '1', HARKEN_VOICE_FFMPEG_MAX_QUEUED: '0' });
    key = await server.createKey(['transcribe', 'synthesize', 'admin']);
  });
  afterAll(async () => {
    await server.harken.close();
  });

  const transcribe = async () => {
    const form = new FormData();
    form.append('file', new Blob([mp3Of('goforward.wav')]), 'a.mp3');
    form.append('model', 'whisper-1');
    return fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  };

  it('refuses a second ffmpeg job with 503 engine_busy while the slot is taken, kills the encoder when its client leaves, then serves', async () => {
    const abandon = new AbortController();
    const input = Array.from({ length: 60 }, (_, index) => `This is sentence number ${index + 1} of a long answer.`).join(' ');
    const speech = await fetch(`${server.url}/v1/audio/speech`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input, response_format: 'mp3' }),
      signal: abandon.signal,
    });
    expect(speech.status).toBe(200);
    const reader = speech.body!.getReader();
    expect((await reader.read()).value?.byteLength).toBeGreaterThan(0);
    expect(ffmpegChildren()).toHaveLength(1);

    const busy = await transcribe();
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(((await busy.json()) as { error: unknown }).error).toMatchObject({ type: 'server_error', code: 'engine_busy' });

    // The client hangs up mid-stream: its ffmpeg process is killed, not left to finish.
    abandon.abort();
    await expect.poll(() => ffmpegChildren(), { timeout: 5_000 }).toEqual([]);
    const served = await transcribe();
    expect(served.status).toBe(200);
    expect(((await served.json()) as { text: string }).text).toBe('go forward ten meters');

    const stats = (await server.inject({ method: 'GET', url: '/v1/admin/engines' })).json();
    expect(JSON.stringify(stats)).toContain('ffmpeg.decode');
    expect(JSON.stringify(stats)).toContain('ffmpeg.encode');
  }, 40_000);
});
