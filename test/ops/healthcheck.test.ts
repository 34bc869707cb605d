import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { runCliAsync } from '../helpers/cli.js';
import { startListeningServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { freePort } from '../helpers/ports.js';

type Harken = Awaited<ReturnType<typeof startListeningServer>>;

interface SessionView {
  readonly audio: { inputIdleMs: number | null; replyStalledMs: number } | null;
  readonly connection: { messagesPerSecond: number; peakMessagesPerSecond: number; errors: number; flagged: boolean } | null;
}

/** An OpenAI-compatible speech server that takes requests and never answers: a hung synthesiser. */
const startHungSpeechServer = async (): Promise<{ url: string; requests: () => number; close(): Promise<void> }> => {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer(() => {
    requests += 1;
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests: () => requests,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
};

describe('harken healthcheck: ready and audio flowing', () => {
  const tempDir = useTempDirs();
  const servers: Harken[] = [];
  const clients: RealtimeClient[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  const healthcheck = (url: string, ...extra: string[]) => runCliAsync(['healthcheck', '--url', url, ...extra], { cwd: tempDir() });

  it('passes quietly, fails with the reason while every streaming session has gone quiet, and shows rate and errors per connection', async () => {
    const server = await startListeningServer(tempDir(), { HARKEN_MONITOR_AUDIO_STALL_MS: '1000', HARKEN_MONITOR_CONNECTION_MAX_MESSAGES_PER_SECOND: '100', HARKEN_MONITOR_CONNECTION_MAX_ERRORS: '5' });
    servers.push(server);
    const healthy = await healthcheck(server.url);
    expect(healthy).toMatchObject({ status: 0, stdout: '', stderr: '' });

    const client = await RealtimeClient.connect({ url: server.wsUrl, credentials: server.apiKey, sampleRate: 16_000, agent: 'echo' });
    clients.push(client);
    await client.waitFor('audio_end');
    const streaming = client.streamSilence(2_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await healthcheck(server.url)).status).toBe(0);
    await streaming;
    // The only streaming session stops sending: nothing is arriving anywhere.
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    const quiet = await healthcheck(server.url);
    expect(quiet.status).toBe(1);
    expect(quiet.stderr).toMatch(/^harken: not ready \(503\): audio: none of the 1 session\(s\) streaming audio has received any for more than 1000 ms\n$/);
    const json = await healthcheck(server.url, '--json');
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ healthy: false, status: 503, checks: expect.arrayContaining([expect.objectContaining({ name: 'audio', ok: false })]) });
    await client.streamSilence(200);
    expect((await healthcheck(server.url)).status).toBe(0);

    // 150 tiny frames at once: over 100 in a second, so the connection is flagged (and kept).
    for (let index = 0; index < 150; index += 1) client.sendAudio(new Int16Array(2));
    const sessions = async () => (await server.inject({ method: 'GET', url: '/v1/admin/sessions' })).json().sessions as SessionView[];
    await expect.poll(async () => (await sessions())[0]?.connection?.flagged, { timeout: 3_000 }).toBe(true);
    const [view] = await sessions();
    expect(view!.connection!.peakMessagesPerSecond).toBeGreaterThan(100);
    expect(view!.audio!.inputIdleMs).toBeGreaterThanOrEqual(0);
    expect(view!.audio!.replyStalledMs).toBe(0);

    // Five protocol errors are survived; the sixth closes the connection.
    for (let index = 0; index < 5; index += 1) client.sendJson({ type: 'nonsense' });
    await expect.poll(async () => (await sessions())[0]?.connection?.errors, { timeout: 3_000 }).toBe(5);
    expect(server.harken.voice!.connections.size).toBe(1);
    client.sendJson({ type: 'nonsense' });
    const closed = await client.closed;
    expect(closed.code).toBe(1008);
    expect(client.events.filter((event) => event.type === 'error').map((event) => (event as { code: string }).code).slice(-2)).toEqual(['unknown_message', 'too_many_errors']);
  }, 60_000);

  it('fails while a reply has not moved on (a hung synthesiser), and passes again once it is gone', async () => {
    const hung = await startHungSpeechServer();
    cleanups.push(() => hung.close());
    const server = await startListeningServer(tempDir(), {
      HARKEN_MONITOR_AUDIO_STALL_MS: '1000',
      HARKEN_TTS_ENGINE: 'openai',
      HARKEN_TTS_OPENAI_BASE_URL: hung.url,
      HARKEN_TTS_OPENAI_API_KEY: 'sk-test',
      HARKEN_TTS_TIMEOUT_MS: '30000',
      HARKEN_TTS_RETRIES: '0',
    });
    servers.push(server);
    const client = await RealtimeClient.connect({ url: server.wsUrl, credentials: server.apiKey, sampleRate: 16_000, agent: 'echo' });
    clients.push(client);
    await expect.poll(() => hung.requests(), { timeout: 5_000 }).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    const stalled = await healthcheck(server.url);
    expect(stalled.status).toBe(1);
    expect(stalled.stderr).toContain('audio: 1 session(s) have a reply that has not moved on for more than 1000 ms');
    const view = ((await server.inject({ method: 'GET', url: '/v1/admin/sessions' })).json().sessions as SessionView[])[0]!;
    expect(view.audio!.replyStalledMs).toBeGreaterThan(1000);
    await client.close();
    await expect.poll(async () => (await healthcheck(server.url)).status, { timeout: 5_000 }).toBe(0);
  }, 60_000);

  it('fails fast and says so when nothing answers', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await freePort();
    const started = Date.now();
    const result = await healthcheck(`http://127.0.0.1:${port}`, '--timeout-ms', '500');
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`harken: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
