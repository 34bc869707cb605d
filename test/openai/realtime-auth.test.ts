import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startListeningServer, type TestServer } from '../helpers/harness.js';
import type { RealtimeEvent } from '../helpers/openai-realtime.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

/** Opens an OpenAI-style socket; resolves with the refusal (status and body) or the open socket and its events. */
const connect = (url: string, options: { headers?: Record<string, string>; protocols?: string[] } = {}) =>
  new Promise<{ refused?: { status: number; body: { error: Record<string, unknown> } }; socket?: WebSocket; events: RealtimeEvent[]; closed: Promise<{ code: number; atMs: number }> }>((resolve, reject) => {
    const events: RealtimeEvent[] = [];
    const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers ?? {} });
    const closed = new Promise<{ code: number; atMs: number }>((done) => socket.on('close', (code) => done({ code, atMs: Date.now() })));
    socket.on('message', (data) => events.push(JSON.parse(String(data)) as RealtimeEvent));
    socket.on('unexpected-response', (_request, response: IncomingMessage) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ refused: { status: response.statusCode ?? 0, body: JSON.parse(body) }, events, closed }));
    });
    socket.on('open', () => resolve({ socket, events, closed }));
    socket.on('error', (error) => (error.message.includes('Unexpected server response') ? undefined : reject(error)));
  });

const waitFor = async (events: RealtimeEvent[], type: string, timeoutMs = 10_000): Promise<RealtimeEvent> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = events.find((event) => event.type === type);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no ${type}; got ${events.map((event) => event.type).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('the OpenAI realtime endpoint as an attacker meets it', () => {
  const tempDir = useTempDirs();
  let server: TestServer & { url: string; wsUrl: string };
  let url: string;

  beforeAll(async () => {
    server = await startListeningServer(tempDir(), { HARKEN_REALTIME_CREDENTIAL_RECHECK_MS: '250', HARKEN_RATE_LIMIT_REQUESTS: '100000' });
    url = `${server.wsUrl}?model=gpt-realtime`;
  });
  afterAll(async () => {
    await server.harken.close();
  });

  it('refuses no, malformed, wrong, expired and wrong-scope credentials at the upgrade, in OpenAI’s error shape', async () => {
    const expired = await server.harken.access.keys.create({ name: 'old', scopes: ['realtime'], expiresAt: new Date(Date.now() + 200) });
    const wrongScope = await server.createKey(['transcribe']);
    const valid = await server.createKey(['realtime']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cases: Array<[string, Record<string, string>, number, string]> = [
      ['none', {}, 401, 'unauthenticated'],
      ['malformed', { authorization: 'Basic abc' }, 401, 'malformed_credentials'],
      ['wrong', bearer(`${valid.slice(0, -4)}${valid.slice(-4) === 'aaaa' ? 'bbbb' : 'aaaa'}`), 401, 'invalid_credentials'],
      ['expired', bearer(expired.key), 401, 'credentials_expired'],
      ['wrong scope', bearer(wrongScope), 403, 'insufficient_scope'],
    ];
    for (const [label, headers, status, code] of cases) {
      const result = await connect(url, { headers });
      expect(result.refused?.status, label).toBe(status);
      expect(result.refused?.body.error, label).toMatchObject({ type: 'invalid_request_error', code, param: null });
      expect(typeof result.refused?.body.error.message, label).toBe('string');
    }
  });

  it('takes a short-lived token in OpenAI’s browser subprotocol (never echoed) but refuses an API key there', async () => {
    const key = await server.createKey(['realtime']);
    const viaKey = await connect(url, { protocols: ['realtime', `openai-insecure-api-key.${key}`] });
    expect(viaKey.refused?.status).toBe(401);
    expect(viaKey.refused?.body.error.code).toBe('malformed_credentials');

    const token = (await server.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(key) })).json().token as string;
    const viaToken = await connect(server.wsUrl, { protocols: ['realtime', `openai-insecure-api-key.${token}`, 'openai-beta.realtime-v1'] });
    expect(viaToken.socket?.protocol).toBe('realtime');
    // openai-beta.realtime-v1 offered: beta event names.
    expect((await waitFor(viaToken.events, 'session.created')).session).toMatchObject({ object: 'realtime.session', input_audio_format: 'pcm16' });
    viaToken.socket?.close();
  });

  it('closes an open session with 4401 when its key is revoked', async () => {
    const key = await server.harken.access.keys.create({ name: 'revoked', scopes: ['realtime'] });
    const session = await connect(url, { headers: bearer(key.key) });
    await waitFor(session.events, 'session.created');
    const revokedAt = Date.now();
    await server.harken.access.keys.revoke(key.view.id);
    const closed = await session.closed;
    expect(closed.code).toBe(4401);
    expect(closed.atMs - revokedAt).toBeLessThan(5_000);
    expect(session.events.at(-1)).toMatchObject({ type: 'error', error: { code: 'credentials_revoked' } });
  });

  it('draws items and responses from the key’s rate limit, reports it in rate_limits.updated, and refuses past it without closing', async () => {
    // The upgrade is one request of the allowance; two items use up the rest.
    const limited = await server.createKey(['realtime'], { rateLimit: 3 });
    const session = await connect(url, { headers: bearer(limited) });
    await waitFor(session.events, 'session.created');
    const item = (text: string) => JSON.stringify({ type: 'conversation.item.create', event_id: `evt_${text}`, item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } });
    session.socket?.send(item('one'));
    session.socket?.send(item('two'));
    session.socket?.send(item('three'));
    const refused = await waitFor(session.events, 'error');
    expect(refused.error).toMatchObject({ type: 'rate_limit_exceeded', code: 'rate_limited', event_id: 'evt_three' });
    const standings = session.events.filter((event) => event.type === 'rate_limits.updated').map((event) => (event.rate_limits as Array<{ remaining: number; limit: number }>)[0]);
    expect(standings).toEqual([expect.objectContaining({ limit: 3, remaining: 1 }), expect.objectContaining({ limit: 3, remaining: 0 })]);
    expect(session.socket?.readyState).toBe(WebSocket.OPEN);
    session.socket?.close();
  });

  it('answers malformed events with an error naming the field and the event, and an unknown model by closing', async () => {
    const key = await server.createKey(['realtime']);
    const session = await connect(url, { headers: bearer(key) });
    await waitFor(session.events, 'session.created');
    session.socket?.send(JSON.stringify({ type: 'session.update', event_id: 'evt_bad', session: { audio: { input: { format: { type: 'audio/mp3' } } } } }));
    session.socket?.send(JSON.stringify({ type: 'input_audio_buffer.append', event_id: 'evt_b64', audio: 'not base64!' }));
    session.socket?.send('{not json');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const errors = session.events.filter((event) => event.type === 'error').map((event) => event.error as Record<string, unknown>);
    expect(errors).toEqual([
      expect.objectContaining({ code: 'invalid_value', param: 'session.audio.input.format.type', event_id: 'evt_bad' }),
      expect.objectContaining({ code: 'invalid_value', param: 'audio', event_id: 'evt_b64' }),
      expect.objectContaining({ code: 'invalid_json' }),
    ]);
    expect(session.socket?.readyState).toBe(WebSocket.OPEN);
    session.socket?.close();

    const unknown = await connect(`${server.wsUrl}?model=gpt-5-nonexistent`, { headers: bearer(key) });
    expect((await unknown.closed).code).toBe(1008);
    expect(unknown.events[0]).toMatchObject({ type: 'error', error: { code: 'model_not_found', param: 'model' } });
  });
});
