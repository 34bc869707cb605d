import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/security/totp.js';
import { encodeWav } from '../../src/audio/wav.js';
import { ADMIN_TEST_PASSWORD, startListeningServer, startTestServer, voiceTestEnv, type TestServer } from '../helpers/harness.js';
import { recording } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

describe('tenants own their conversations; patient data, quotas, errors and logs', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const start = async (env: Record<string, string> = {}, dataDir = tempDir(), now?: () => Date) => {
    const server = await startTestServer(dataDir, { HARKEN_VOICE_ENABLED: 'false', ...env }, now);
    servers.push(server);
    return server;
  };

  it('answers another tenant’s conversation on every route exactly like an unknown one; admins see all and filter', async () => {
    const server = await start();
    const acme = await server.createKey(['conversations'], { tenant: 'acme' });
    const globex = await server.createKey(['conversations'], { tenant: 'globex' });
    const created = await server.inject({ method: 'POST', url: '/v1/conversations', headers: bearer(acme) });
    expect(created.json()).toMatchObject({ tenant: 'acme' });
    const id = created.json().id as string;
    await server.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, headers: bearer(acme), payload: { text: 'Ada Lovelace' } });
    const unknown = '00000000-0000-4000-8000-000000000000';

    const asOwner = { get: 200, export: 200, send: 200 };
    const routes = (conversation: string) => [
      { name: 'get', method: 'GET' as const, url: `/v1/conversations/${conversation}` },
      { name: 'export', method: 'GET' as const, url: `/v1/conversations/${conversation}/export?format=csv` },
      { name: 'send', method: 'POST' as const, url: `/v1/conversations/${conversation}/messages`, payload: { text: 'no' } },
    ];
    for (const route of routes(id)) {
      const other = await server.inject({ ...route, headers: bearer(globex) });
      const missing = await server.inject({ ...routes(unknown).find((item) => item.name === route.name)!, headers: bearer(globex) });
      expect(other.statusCode, route.name).toBe(404);
      expect(other.json(), route.name).toEqual(missing.json());
      expect(other.body).not.toContain('Ada');
      expect((await server.inject({ ...route, headers: bearer(acme) })).statusCode, route.name).toBe(asOwner[route.name as keyof typeof asOwner]);
    }
    expect((await server.inject({ method: 'DELETE', url: `/v1/conversations/${id}`, headers: bearer(globex) })).json()).toEqual(
      (await server.inject({ method: 'DELETE', url: `/v1/conversations/${unknown}`, headers: bearer(globex) })).json(),
    );
    const listed = (credential: string, query = '') => server.inject({ method: 'GET', url: `/v1/conversations${query}`, headers: bearer(credential) }).then((response) => response.json().conversations.map((item: { id: string }) => item.id));
    expect(await listed(globex)).toEqual([]);
    expect(await listed(globex, '?tenant=acme')).toEqual([]);
    // A text search reaches only the caller's tenant too.
    expect(await listed(globex, '?q=Lovelace')).toEqual([]);
    expect(await listed(acme, '?q=lovelace')).toEqual([id]);
    expect(await listed(acme)).toEqual([id]);
    // Admins see every tenant and may filter by one.
    await server.inject({ method: 'POST', url: '/v1/conversations', headers: bearer(globex) });
    expect(await listed(server.apiKey)).toHaveLength(2);
    expect(await listed(server.apiKey, '?tenant=acme')).toEqual([id]);
    expect((await server.inject({ method: 'GET', url: `/v1/conversations/${id}` })).json().data).toBeDefined();
    // Responses with patient data are never cached.
    expect((await server.inject({ method: 'GET', url: `/v1/conversations/${id}`, headers: bearer(acme) })).headers['cache-control']).toBe('no-store');
  });

  it('continues a conversation by voice (POST /v1/voice-chat) only for its own tenant', async () => {
    const server = await start({ ...voiceTestEnv(), HARKEN_VOICE_ENABLED: 'true' });
    const acme = await server.createKey(['conversations', 'transcribe', 'synthesize'], { tenant: 'acme' });
    const globex = await server.createKey(['conversations', 'transcribe', 'synthesize'], { tenant: 'globex' });
    const id = (await server.inject({ method: 'POST', url: '/v1/conversations', headers: bearer(acme), payload: { agent: 'echo' } })).json().id as string;
    const messages = async () => (await server.inject({ method: 'GET', url: `/v1/conversations/${id}`, headers: bearer(acme) })).json().messages.length as number;
    const before = await messages();
    const speech = encodeWav(recording('goforward.wav'));
    const voiceChat = (credential: string, conversation: string) =>
      server.inject({ method: 'POST', url: `/v1/voice-chat?conversationId=${conversation}`, headers: { ...bearer(credential), 'content-type': 'audio/wav' }, payload: speech });
    const other = await voiceChat(globex, id);
    expect(other.statusCode).toBe(404);
    expect(other.json()).toEqual((await voiceChat(globex, '00000000-0000-4000-8000-000000000000')).json());
    // Nothing was appended for the other tenant's caller.
    expect(await messages()).toBe(before);
    const own = await voiceChat(acme, id);
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ conversationId: id });
    expect(await messages()).toBeGreaterThan(before);
  });

  it('erases a conversation with its messages (audited), and purges old ones after the retention period', async () => {
    let offsetDays = 0;
    const dataDir = tempDir();
    const clock = () => new Date(Date.now() + offsetDays * 86_400_000);
    const server = await start({}, dataDir, clock);
    const db = server.harken.database.kysely;
    const messageRows = async (conversation: string) => (await db.selectFrom('messages').select('id').where('conversation_id', '=', conversation).execute()).length;
    const first = (await server.inject({ method: 'POST', url: '/v1/conversations' })).json().id as string;
    await server.inject({ method: 'POST', url: `/v1/conversations/${first}/messages`, payload: { text: 'Grace Hopper' } });
    expect(await messageRows(first)).toBeGreaterThan(0);
    expect((await server.inject({ method: 'DELETE', url: `/v1/conversations/${first}` })).statusCode).toBe(204);
    expect(await messageRows(first)).toBe(0);
    expect((await server.inject({ method: 'GET', url: `/v1/conversations/${first}` })).statusCode).toBe(404);
    expect((await server.inject({ method: 'GET', url: '/v1/admin/audit?action=conversation.deleted' })).json().events[0]).toMatchObject({ target: `conversation:${first}` });

    const old = (await server.inject({ method: 'POST', url: '/v1/conversations' })).json().id as string;
    await server.inject({ method: 'POST', url: `/v1/conversations/${old}/messages`, payload: { text: 'Alan Turing' } });
    await server.harken.close();
    servers.length = 0;
    offsetDays = 31;
    const later = await start({ HARKEN_STORE_CONVERSATION_RETENTION_DAYS: '30' }, dataDir, clock);
    const fresh = (await later.inject({ method: 'POST', url: '/v1/conversations' })).json().id as string;
    const remaining = await later.harken.database.kysely.selectFrom('conversations').select('id').execute();
    expect(remaining.map((row) => row.id)).toEqual([fresh]);
    expect((await later.harken.database.kysely.selectFrom('messages').select('id').where('conversation_id', '=', old).execute()).length).toBe(0);
  });

  it('keeps a daily quota across restarts, with RateLimit headers naming the daily policy', async () => {
    const dataDir = tempDir();
    const first = await start({}, dataDir);
    const key = await first.createKey(['conversations'], { dailyLimit: 3 });
    for (let call = 0; call < 2; call += 1) expect((await first.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) })).statusCode).toBe(200);
    await first.harken.close();
    servers.length = 0;
    const second = await start({}, dataDir);
    const last = await second.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) });
    expect(last.statusCode).toBe(200);
    expect(last.headers['ratelimit-policy']).toBe('3;w=86400;name="daily"');
    expect(last.headers['ratelimit-remaining']).toBe('0');
    const refused = await second.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.code).toBe('quota_exhausted');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('keeps credentials out of request logs, answers malformed input in its own error shape, and refuses a truncated WAV with 415', async () => {
    const server = await start({ HARKEN_VOICE_ENABLED: 'true', HARKEN_VAD_MODEL: `${process.cwd()}/../shared/models/vad/silero_vad_v4.onnx` });
    const secret = server.apiKey.split('_').slice(2).join('_');
    await server.harken.app.inject({ method: 'GET', url: `/v1/auth/me?x-api-key=${server.apiKey}&sampleRate=8000` });
    await server.harken.app.inject({ method: 'GET', url: `/v1/auth/me?q=${server.apiKey}` });
    expect(server.logs.text).not.toContain(secret);
    expect(server.logs.text).toContain('sampleRate=8000');

    // A malformed session cookie next to a valid key is ignored, not a 500.
    expect((await server.inject({ method: 'GET', url: '/v1/auth/me', headers: { cookie: 'harken_session=%' } })).statusCode).toBe(200);
    const badUrl = await server.inject({ method: 'GET', url: '/v1/conversations/%E0%A4%A' });
    expect(badUrl.statusCode).toBe(400);
    expect(badUrl.json()).toEqual({ error: { code: 'invalid_url', message: expect.any(String) } });

    // RIFF/WAVE with a WAVE_FORMAT_EXTENSIBLE fmt chunk cut off after 18 bytes.
    const header = Buffer.alloc(12 + 8 + 18);
    header.write('RIFF', 0, 'latin1');
    header.writeUInt32LE(header.length - 8, 4);
    header.write('WAVE', 8, 'latin1');
    header.write('fmt ', 12, 'latin1');
    header.writeUInt32LE(40, 16);
    header.writeUInt16LE(0xfffe, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(16000, 24);
    const wav = await server.inject({ method: 'POST', url: '/v1/transcribe', headers: { 'content-type': 'audio/wav' }, payload: header });
    expect(wav.statusCode).toBe(415);
    expect(server.logs.text).not.toContain('RangeError');
  });

  it('answers oversized headers with 431 in the error shape, and without a body to HEAD', async () => {
    const dataDir = tempDir();
    const server = await startListeningServer(dataDir, { HARKEN_SERVER_MAX_HEADER_BYTES: '2048', HARKEN_VOICE_ENABLED: 'false' });
    servers.push(server);
    const { port } = new URL(server.url);
    const send = (method: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = httpRequest({ host: '127.0.0.1', port, method, path: '/health', headers: { 'x-filler': 'a'.repeat(4096) } }, (response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        });
        request.on('error', reject);
        request.end();
      });
    const get = await send('GET');
    expect(get.status).toBe(431);
    expect(JSON.parse(get.body)).toEqual({ error: { code: 'headers_too_large', message: 'request headers are too large' } });
    const head = await send('HEAD');
    expect(head.status).toBe(431);
    expect(head.body).toBe('');
  });

  it('serves /docs only to valid credentials when docs are not public', async () => {
    const server = await start({ HARKEN_SERVER_DOCS_PUBLIC: 'false' });
    expect((await server.harken.app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(401);
    expect((await server.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
    const open = await start();
    expect((await open.harken.app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
  });

  it('enrols a TOTP second factor, then needs a fresh code (or a one-time recovery code) to log in', async () => {
    const server = await start();
    const admin = await server.loginAdmin('grace');
    const enrol = (await admin.inject({ method: 'POST', url: '/v1/auth/totp' })).json() as { secret: string; otpauthUri: string };
    expect(enrol.otpauthUri).toMatch(/^otpauth:\/\/totp\/Harken:grace\?/);
    expect((await admin.inject({ method: 'POST', url: '/v1/auth/totp/confirm', payload: { code: '000000' === totpCode(enrol.secret) ? '111111' : '000000' } })).statusCode).toBe(400);
    const confirmCode = totpCode(enrol.secret);
    const confirmed = await admin.inject({ method: 'POST', url: '/v1/auth/totp/confirm', payload: { code: confirmCode } });
    expect(confirmed.statusCode).toBe(200);
    const recoveryCodes = confirmed.json().recoveryCodes as string[];
    expect(recoveryCodes).toHaveLength(10);

    const login = (extra: Record<string, string>, ip = '127.0.0.1') =>
      server.harken.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'grace', password: ADMIN_TEST_PASSWORD, ...extra }, remoteAddress: ip });
    expect((await login({})).json().error.code).toBe('second_factor_required');
    // The code used to confirm was consumed: replaying it fails.
    expect((await login({ totp: confirmCode })).json().error.code).toBe('invalid_second_factor');
    const next = totpCode(enrol.secret, Date.now() + 30_000);
    expect((await login({ totp: next }, '10.1.1.1')).statusCode).toBe(200);
    expect((await login({ recoveryCode: recoveryCodes[0] as string }, '10.1.1.2')).statusCode).toBe(200);
    expect((await login({ recoveryCode: recoveryCodes[0] as string }, '10.1.1.3')).json().error.code).toBe('invalid_second_factor');
    const admins = (await server.inject({ method: 'GET', url: '/v1/admin/admins' })).json().admins;
    expect(admins.find((item: { username: string }) => item.username === 'grace').totpEnabled).toBe(true);
    expect(server.logs.text).not.toContain(enrol.secret);
  });

  it('runs the admin lifecycle: strength-checked passwords, change, log out everywhere, disable, delete, idle timeout', async () => {
    let offsetMs = 0;
    const server = await start({ HARKEN_AUTH_SESSION_IDLE_MINUTES: '30' }, tempDir(), () => new Date(Date.now() + offsetMs));
    const ops = await server.loginAdmin('ops');
    const weak = await ops.inject({ method: 'POST', url: '/v1/admin/admins', payload: { username: 'weak', password: 'password1234' } });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().error.message).toMatch(/too easy to guess/);
    const dana = (await ops.inject({ method: 'POST', url: '/v1/admin/admins', payload: { username: 'dana', password: 'violet lantern orbit 42' } })).json() as { id: string };
    const danaLogin = () => server.harken.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'dana', password: 'violet lantern orbit 42' } });
    const cookieOf = (response: { headers: Record<string, unknown> }) => String(response.headers['set-cookie']).split(';')[0] as string;
    const [one, two] = [await danaLogin(), await danaLogin()];
    const asDana = (response: typeof one) => (options: Parameters<TestServer['inject']>[0]) =>
      server.harken.app.inject({ ...options, headers: { cookie: cookieOf(response), 'x-csrf-token': response.json().csrfToken, ...options.headers } });
    expect((await asDana(one)({ method: 'GET', url: '/v1/auth/sessions' })).json().sessions).toHaveLength(2);
    // Changing the password needs the old one and ends the other sessions.
    expect((await asDana(one)({ method: 'POST', url: '/v1/auth/password', payload: { currentPassword: 'nope', newPassword: 'amber falcon river 77' } })).statusCode).toBe(401);
    expect((await asDana(one)({ method: 'POST', url: '/v1/auth/password', payload: { currentPassword: 'violet lantern orbit 42', newPassword: 'amber falcon river 77' } })).statusCode).toBe(204);
    expect((await asDana(two)({ method: 'GET', url: '/v1/auth/me' })).statusCode).toBe(401);
    expect((await asDana(one)({ method: 'GET', url: '/v1/auth/me' })).statusCode).toBe(200);
    // Log out everywhere.
    expect((await asDana(one)({ method: 'DELETE', url: '/v1/auth/sessions' })).json().ended).toBe(1);
    expect((await asDana(one)({ method: 'GET', url: '/v1/auth/me' })).statusCode).toBe(401);
    // Disabled admins cannot log in; the last enabled admin cannot be disabled.
    expect((await ops.inject({ method: 'PATCH', url: `/v1/admin/admins/${dana.id}`, payload: { disabled: true } })).json().disabledAt).not.toBeNull();
    expect((await server.harken.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'dana', password: 'amber falcon river 77' } })).json().error.code).toBe('account_disabled');
    const opsId = (await ops.inject({ method: 'GET', url: '/v1/auth/me' })).json().id as string;
    expect((await ops.inject({ method: 'PATCH', url: `/v1/admin/admins/${opsId}`, payload: { disabled: true } })).json().error.code).toBe('last_admin');
    expect((await ops.inject({ method: 'DELETE', url: `/v1/admin/admins/${dana.id}` })).statusCode).toBe(204);
    // Idle: 31 minutes without a request end the session, though its lifetime has not.
    offsetMs = 31 * 60_000;
    expect((await ops.inject({ method: 'GET', url: '/v1/auth/me' })).statusCode).toBe(401);
  });
});
