import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const PASSWORD = 'correct horse battery staple';

const cookieOf = (setCookie: string | string[] | undefined): string => {
  const header = [setCookie].flat()[0] ?? '';
  return header.split(';')[0] as string;
};

describe('admin accounts: login sessions, CSRF, brute-force lockout, first admin', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const server = await startTestServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false', ...env });
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });

  const login = (server: TestServer, username: string, password: string, ip = '127.0.0.1') =>
    server.harken.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password }, remoteAddress: ip });

  it('logs in with an HttpOnly SameSite cookie, needs the CSRF token for changes, and logs out for good', async () => {
    const server = await start();
    await server.harken.access.admins.create('Alice', PASSWORD);
    const response = await login(server, 'alice', PASSWORD);
    expect(response.statusCode).toBe(200);
    const setCookie = String(response.headers['set-cookie']);
    expect(setCookie).toMatch(/^harken_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const { csrfToken, admin } = response.json() as { csrfToken: string; admin: { username: string } };
    expect(admin.username).toBe('alice');
    const cookie = cookieOf(response.headers['set-cookie']);
    const asAdmin = (method: 'GET' | 'POST' | 'DELETE', url: string, extra: Record<string, string> = {}, payload?: object) =>
      server.harken.app.inject({ method, url, headers: { cookie, ...extra }, ...(payload ? { payload } : {}) });

    expect((await asAdmin('GET', '/v1/admin/keys')).statusCode).toBe(200);
    expect((await asAdmin('GET', '/v1/auth/me')).json()).toMatchObject({ kind: 'admin', actor: 'admin:alice', via: 'session' });
    const withoutCsrf = await asAdmin('POST', '/v1/admin/keys', {}, { name: 'k', scopes: ['realtime'] });
    expect(withoutCsrf.statusCode).toBe(403);
    expect(withoutCsrf.json().error.code).toBe('csrf_failed');
    expect((await asAdmin('POST', '/v1/admin/keys', { 'x-csrf-token': 'guess' }, { name: 'k', scopes: ['realtime'] })).statusCode).toBe(403);
    const created = await asAdmin('POST', '/v1/admin/keys', { 'x-csrf-token': csrfToken }, { name: 'k', scopes: ['realtime'] });
    expect(created.statusCode).toBe(201);
    expect(created.json().createdBy).toBe('admin:alice');
    // The browser's dashboard gets WebSocket tokens through its session.
    expect((await asAdmin('POST', '/v1/auth/token', { 'x-csrf-token': csrfToken }, { scopes: ['realtime'] })).statusCode).toBe(201);

    expect((await asAdmin('POST', '/v1/auth/logout')).statusCode).toBe(403);
    const out = await asAdmin('POST', '/v1/auth/logout', { 'x-csrf-token': csrfToken });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^harken_session=; .*Max-Age=0/);
    const after = await asAdmin('GET', '/v1/admin/keys');
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('invalid_credentials');

    const actions = (await server.inject({ method: 'GET', url: '/v1/admin/audit?actor=admin:alice' })).json().events.map((event: { action: string }) => event.action);
    expect(actions).toEqual(expect.arrayContaining(['auth.login', 'auth.forbidden', 'key.created', 'token.issued', 'auth.logout']));
    for (const secret of [PASSWORD, csrfToken, cookie.split('=')[1] as string]) expect(server.logs.text).not.toContain(secret);
  });

  it('marks the cookie Secure in production', async () => {
    const server = await start({ HARKEN_SERVER_ENVIRONMENT: 'production' });
    await server.harken.access.admins.create('ops', PASSWORD);
    expect(String((await login(server, 'ops', PASSWORD)).headers['set-cookie'])).toMatch(/; Secure$/);
  });

  it('locks an account after repeated failures, then lets it in again', async () => {
    const server = await start({ HARKEN_AUTH_LOGIN_MAX_FAILURES: '3', HARKEN_AUTH_LOGIN_LOCKOUT_SECONDS: '2' });
    await server.harken.access.admins.create('bob', PASSWORD);
    await server.harken.access.admins.create('carol', PASSWORD);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const wrong = await login(server, 'bob', `wrong ${attempt} password`);
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json().error).toEqual({ code: 'invalid_credentials', message: 'wrong username or password' });
    }
    // Locked: even the right password is not tried.
    const locked = await login(server, 'bob', PASSWORD);
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error.code).toBe('too_many_attempts');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Other accounts are not affected.
    expect((await login(server, 'carol', PASSWORD)).statusCode).toBe(200);
    // Unknown usernames fail the same way as wrong passwords.
    expect((await login(server, 'nobody', PASSWORD)).json().error.message).toBe('wrong username or password');

    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await login(server, 'bob', PASSWORD)).statusCode).toBe(200);
    const events = (await server.inject({ method: 'GET', url: '/v1/admin/audit?actor=admin:bob' })).json().events as Array<{ action: string; outcome: string; details: Record<string, unknown> | null; ip: string }>;
    expect(events.map((event) => `${event.action}:${event.outcome}`)).toEqual([
      'auth.login:success',
      'auth.login:failure',
      'auth.locked:failure',
      'auth.login:failure',
      'auth.login:failure',
      'auth.login:failure',
    ]);
    expect(events[1]?.details).toEqual({ reason: 'locked_account' });
    expect(events[0]?.ip).toBe('127.0.0.0/24');
  });

  it('blocks an address that guesses across many accounts', async () => {
    const server = await start({ HARKEN_AUTH_LOGIN_MAX_FAILURES_PER_IP: '4' });
    await server.harken.access.admins.create('dave', PASSWORD);
    for (const name of ['a1', 'a2', 'a3', 'a4']) expect((await login(server, name, 'wrong password', '203.0.113.7')).statusCode).toBe(401);
    const blocked = await login(server, 'dave', PASSWORD, '203.0.113.7');
    expect(blocked.statusCode).toBe(429);
    // Another address still logs in.
    expect((await login(server, 'dave', PASSWORD, '198.51.100.2')).statusCode).toBe(200);
    const locked = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=auth.locked' })).json().events;
    expect(locked[0]).toMatchObject({ ip: '203.0.113.0/24', details: { scope: 'ip' } });
    // Request and audit log lines carry the masked address only.
    expect(server.logs.text).toContain('"remoteAddress":"203.0.113.0/24"');
    expect(server.logs.text).not.toContain('203.0.113.7');
  });

  it('creates the first admin once with the setup code, which is never logged', async () => {
    const server = await start();
    const code = server.harken.setupCode as string;
    expect(code).toMatch(/^[A-Z2-9]{5}(-[A-Z2-9]{5}){3}$/);
    const setup = (setupCode: string, username = 'root') =>
      server.harken.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { setupCode, username, password: PASSWORD } });
    const wrong = await setup('AAAAA-BBBBB-CCCCC-DDDDD');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.code).toBe('invalid_setup_code');
    const short = await server.harken.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { setupCode: code, username: 'root', password: 'short' } });
    expect(short.statusCode).toBe(400);
    const created = await setup(code.toLowerCase());
    expect(created.statusCode).toBe(201);
    expect(String(created.headers['set-cookie'])).toMatch(/^harken_session=/);
    expect((await setup(code, 'second')).statusCode).toBe(409);
    expect(server.logs.text).not.toContain(code);
    expect(server.logs.text).not.toContain(PASSWORD);
  });

  it('creates the first admin from the environment, and only when none exists', async () => {
    const dataDir = tempDir();
    const env = { HARKEN_VOICE_ENABLED: 'false', HARKEN_AUTH_ADMIN_USERNAME: 'Ops', HARKEN_AUTH_ADMIN_PASSWORD: PASSWORD };
    const first = await startTestServer(dataDir, env);
    servers.push(first);
    expect(first.harken.setupCode).toBeUndefined();
    expect((await login(first, 'ops', PASSWORD)).statusCode).toBe(200);
    expect(first.logs.text).not.toContain(PASSWORD);
    await first.harken.close();
    servers.pop();
    const again = await startTestServer(dataDir, { ...env, HARKEN_AUTH_ADMIN_PASSWORD: 'a different password now' });
    servers.push(again);
    expect(await again.harken.access.admins.list()).toHaveLength(1);
    expect((await login(again, 'ops', PASSWORD)).statusCode).toBe(200);
  });
});
