import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient, RealtimeRefusedError } from '../../src/client/realtime-client.js';
import { startListeningServer, startTestServer, voiceTestEnv, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

describe('rate limits', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const start = async (env: Record<string, string>) => {
    const server = await startTestServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false', ...env });
    servers.push(server);
    return server;
  };

  it('counts per caller with RateLimit headers, refuses with 429 and Retry-After, and recovers', async () => {
    const server = await start({ HARKEN_RATE_LIMIT_REQUESTS: '3', HARKEN_RATE_LIMIT_WINDOW_SECONDS: '2' });
    const key = await server.createKey(['conversations']);
    const other = await server.createKey(['conversations']);
    const remaining: string[] = [];
    for (let call = 0; call < 3; call += 1) {
      const response = await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) });
      expect(response.statusCode).toBe(200);
      expect(response.headers['ratelimit-limit']).toBe('3');
      expect(response.headers['ratelimit-policy']).toBe('3;w=2;name="caller"');
      remaining.push(String(response.headers['ratelimit-remaining']));
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toEqual({ code: 'rate_limited', message: expect.stringMatching(/^too many requests \(caller: 3 per 2 s\); retry in [12] s$/) });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(2);
    expect((await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) })).statusCode).toBe(429);
    // Another caller has its own allowance.
    expect((await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(other) })).statusCode).toBe(200);

    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const recovered = await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) });
    expect(recovered.statusCode).toBe(200);
    expect(recovered.headers['ratelimit-remaining']).toBe('2');

    // Two refusals in the window, one audit event.
    const hits = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=rate_limit.hit' })).json().events;
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ actor: expect.stringMatching(/^key:/), details: { bucket: 'caller', limit: 3 } });
  });

  it('gives a key its own limit, a route its own, and limits one address across keys', async () => {
    const server = await start({ ...voiceTestEnv(), HARKEN_VOICE_ENABLED: 'true', HARKEN_RATE_LIMIT_REQUESTS: '100', HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '8', HARKEN_RATE_LIMIT_VOICE_CHAT_REQUESTS: '1' });
    const slow = (await server.harken.access.keys.create({ name: 'slow', scopes: ['conversations'], rateLimit: 1 })).key;
    expect((await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(slow), remoteAddress: '10.0.0.1' })).headers['ratelimit-limit']).toBe('1');
    expect((await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(slow), remoteAddress: '10.0.0.1' })).statusCode).toBe(429);

    const key = await server.createKey(['conversations']);
    const chat = () => server.harken.app.inject({ method: 'POST', url: '/v1/voice-chat', headers: { ...bearer(key), 'content-type': 'audio/wav' }, payload: Buffer.alloc(10), remoteAddress: '10.0.0.2' });
    expect((await chat()).statusCode).not.toBe(429);
    const second = await chat();
    expect(second.statusCode).toBe(429);
    expect(second.json().error.message).toMatch(/route:\/v1\/voice-chat: 1 per 60 s/);

    // Eight requests from one address with fresh keys each: the ninth is refused whatever the key.
    const keys = await Promise.all(Array.from({ length: 9 }, () => server.createKey(['conversations'])));
    const statuses: number[] = [];
    for (const each of keys) statuses.push((await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(each), remoteAddress: '10.0.0.3' })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
    // Unauthenticated floods count against the address too, before credentials are even checked.
    const anonymous = await server.harken.app.inject({ method: 'GET', url: '/v1/agents', remoteAddress: '10.0.0.3' });
    expect(anonymous.statusCode).toBe(429);
    // Health probes are never limited.
    expect((await server.harken.app.inject({ method: 'GET', url: '/health', remoteAddress: '10.0.0.3' })).statusCode).toBe(200);
  });
});

describe('realtime sessions: credentials and concurrency limits', () => {
  const tempDir = useTempDirs();
  const servers: Array<Awaited<ReturnType<typeof startListeningServer>>> = [];
  const clients: RealtimeClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const start = async (env: Record<string, string> = {}) => {
    const server = await startListeningServer(tempDir(), env);
    servers.push(server);
    return server;
  };
  const connect = async (url: string, credentials?: string) => {
    const client = await RealtimeClient.connect({ url, sampleRate: 16_000, agent: 'echo', ...(credentials ? { credentials } : {}) });
    clients.push(client);
    return client;
  };

  it('refuses the upgrade without credentials or with the wrong scope, and takes a token as a subprotocol', async () => {
    const server = await start();
    const refusal = async (credentials?: string) => {
      try {
        await connect(server.wsUrl, credentials);
      } catch (error) {
        return error as RealtimeRefusedError;
      }
      throw new Error('expected a refusal');
    };
    const none = await refusal();
    expect(none).toBeInstanceOf(RealtimeRefusedError);
    expect(none.status).toBe(401);
    expect((await refusal(await server.createKey(['transcribe']))).status).toBe(403);

    const key = await server.createKey(['realtime']);
    const { token } = (await server.harken.app.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(key) })).json() as { token: string };
    // What a browser does: no headers, the token as a subprotocol beside harken.v1.
    const socket = new WebSocket(server.wsUrl, ['harken.v1', `harken.token.${token}`]);
    const opened = await new Promise<string>((resolve, reject) => {
      socket.once('open', () => resolve(socket.protocol));
      socket.once('error', reject);
    });
    expect(opened).toBe('harken.v1');
    socket.send(JSON.stringify({ type: 'start', sampleRate: 16000, encoding: 'pcm_s16le', agent: 'echo' }));
    const ready = await new Promise<{ type: string }>((resolve) => socket.on('message', (data, binary) => !binary && resolve(JSON.parse(String(data)))));
    expect(ready.type).toBe('ready');
    socket.close();
    expect(server.logs.text).not.toContain(token);
  });

  it('limits concurrent sessions per key and for the server, with clear close codes, and frees slots', async () => {
    const server = await start({ HARKEN_REALTIME_MAX_SESSIONS: '3', HARKEN_REALTIME_MAX_SESSIONS_PER_CALLER: '1', HARKEN_REALTIME_MAX_SESSIONS_PER_ADDRESS: '10' });
    const alice = await server.createKey(['realtime']);
    const bob = await server.createKey(['realtime']);
    const wide = (await server.harken.access.keys.create({ name: 'wide', scopes: ['realtime'], maxSessions: 5 })).key;
    const first = await connect(server.wsUrl, alice);

    const second = await connect(server.wsUrl, alice).catch((error: Error) => error);
    expect(second).toBeInstanceOf(Error);
    expect((second as Error).message).toMatch(/^server closed the session \(4429 these credentials already have 1 concurrent sessions\): too_many_sessions$/);

    await connect(server.wsUrl, bob);
    await connect(server.wsUrl, wide);
    // Three open: the server is full, whoever asks.
    const full = await connect(server.wsUrl, wide).catch((error: Error) => error);
    expect((full as Error).message).toMatch(/^server closed the session \(1013 the server is at its limit of 3 concurrent sessions; try again later\): server_busy$/);

    await first.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.harken.access.sessions.active).toBe(2);
    await connect(server.wsUrl, alice);

    const events = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=session.*&limit=50' })).json().events as Array<{ action: string; details: { scope?: string } | null }>;
    expect(events.filter((event) => event.action === 'session.refused').map((event) => event.details?.scope).sort()).toEqual(['caller', 'server']);
    expect(events.filter((event) => event.action === 'session.started')).toHaveLength(4);
    expect(events.filter((event) => event.action === 'session.ended')).toHaveLength(1);
  });
});
