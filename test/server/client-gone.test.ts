import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startListeningServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

interface StageView {
  readonly calls: number;
  readonly cancelled: number;
}

describe('a client that goes away', () => {
  const tempDir = useTempDirs();

  it('cancels the synthesis it asked for: the engine work stops and its slot is free', async () => {
    const server = await startListeningServer(tempDir());
    try {
      const stages = async () => (await server.inject({ method: 'GET', url: '/v1/admin/engines' })).json().stages as Record<string, StageView>;
      const before = (await stages())['tts.synthesize']?.cancelled ?? 0;
      // A long text: seconds of synthesis, abandoned after 300 ms.
      const text = 'This is a long sentence that takes the synthesiser a while to say out loud. '.repeat(60);
      const body = JSON.stringify({ text });
      const sent = httpRequest(`${server.url}/v1/synthesize`, { method: 'POST', headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
      sent.on('error', () => undefined);
      sent.end(body);
      await new Promise((resolve) => setTimeout(resolve, 300));
      sent.destroy();
      await expect.poll(async () => (await stages())['tts.synthesize']?.cancelled ?? 0, { timeout: 5_000 }).toBeGreaterThan(before);
      // The server answers the next caller at once, and said why in one line.
      const next = await server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: 'Hello.' } });
      expect(next.statusCode).toBe(200);
      expect(server.logs.text).toContain('client went away before the answer');
      expect(server.logs.text).not.toContain('unhandled error');
    } finally {
      await server.harken.close();
    }
  }, 30_000);
});
