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

  it('locks the attacking address out of an account, while its owner still logs in from elsewhere', async () => {
    const server = await start({ HARKEN_AUTH_LOGIN_MAX_FAILURES: '3', HARKEN_AUTH_LOGIN_LOCKOUT_SECONDS: '2' });
    await server.harken.access.admins.create('bob', PASSWORD);
    await server.harken.access.admins.create('carol', PASSWORD);
    const attacker = '203.0.113.66';
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const wrong = await login(server, 'bob', `wrong ${attempt} password`, attacker);
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json().error).toEqual({ code: 'invalid_credentials', message: 'wrong username or password' });
    }
    // From the attacker's address even the right password is not tried.
    const locked = await login(server, 'bob', PASSWORD, attacker);
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error.code).toBe('too_many_attempts');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // The victim, from their own address, is not locked out by someone else's failures.
    expect((await login(server, 'bob', PASSWORD, '198.51.100.20')).statusCode).toBe(200);
    // Other accounts are not affected, not even from the attacker's address.
    expect((await login(server, 'carol', PASSWORD, attacker)).statusCode).toBe(200);
    // Unknown usernames fail the same way as wrong passwords.
    expect((await login(server, 'nobody', PASSWORD)).json().error.message).toBe('wrong username or password');

    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await login(server, 'bob', PASSWORD, attacker)).statusCode).toBe(200);
    const events = (await server.inject({ method: 'GET', url: '/v1/admin/audit?actor=admin:bob' })).json().events as Array<{ action: string; outcome: string; details: Record<string, unknown> | null; ip: string }>;
    expect(events.map((event) => `${event.action}:${event.outcome}`)).toEqual([
      'auth.login:success',
      'auth.login:success',
      'auth.login:failure',
      'auth.locked:failure',
      'auth.login:failure',
      'auth.login:failure',
      'auth.login:failure',
    ]);
    expect(events[2]?.details).toEqual({ reason: 'locked_address' });
    expect(events[0]?.ip).toBe('203.0.113.0/24');
    expect(events[1]?.ip).toBe('198.51.100.0/24');
  });

  it('locks an account for everyone only when many addresses fail on it, and counts IPv6 by /64', async () => {
    const server = await start({ HARKEN_AUTH_LOGIN_MAX_FAILURES: '2', HARKEN_AUTH_LOGIN_ACCOUNT_LOCK_ADDRESSES: '3', HARKEN_AUTH_LOGIN_ACCOUNT_LOCK_FAILURES: '6', HARKEN_AUTH_LOGIN_LOCKOUT_SECONDS: '60' });
    await server.harken.access.admins.create('erin', PASSWORD);
    // Rotating within one IPv6 /64 is still one address: locked after 2 failures.
    expect((await login(server, 'erin', 'wrong password one', '2001:db8:1:2::1')).statusCode).toBe(401);
    expect((await login(server, 'erin', 'wrong password two', '2001:db8:1:2:ffff::9')).statusCode).toBe(401);
    expect((await login(server, 'erin', PASSWORD, '2001:db8:1:2:abcd::5')).statusCode).toBe(429);
    expect((await login(server, 'erin', PASSWORD, '2001:db8:1:3::1')).statusCode).toBe(200);
    // A distributed attack: failures from three more addresses, six in all, lock the account everywhere.
    for (const ip of ['192.0.2.1', '192.0.2.1', '192.0.2.2', '192.0.2.2']) await login(server, 'erin', 'wrong password again', ip);
    const everywhere = await login(server, 'erin', PASSWORD, '198.51.100.99');
    expect(everywhere.statusCode).toBe(429);
    const lock = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=auth.locked' })).json().events[0];
    expect(lock.details.scope).toBe('account');
  });

  it('records attempted usernames that do not exist as "unknown", never verbatim', async () => {
    const server = await start();
    await server.harken.access.admins.create('frank', PASSWORD);
    const typedIntoUsername = 'My-Secret-Passw0rd!';
    expect((await login(server, typedIntoUsername, 'anything at all')).statusCode).toBe(401);
    const failures = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=auth.login' })).json().events as Array<{ actor: string }>;
    expect(failures.map((event) => event.actor)).toEqual(['unknown']);
    const stored = await server.harken.database.kysely.selectFrom('audit_events').select(['actor', 'details']).execute();
    expect(JSON.stringify(stored).toLowerCase()).not.toContain(typedIntoUsername.toLowerCase());
    expect(server.logs.text.toLowerCase()).not.toContain(typedIntoUsername.toLowerCase());
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

  it('limits setup-code guesses per address, so one address cannot lock everyone out of the setup', async () => {
    const server = await start({ HARKEN_AUTH_LOGIN_MAX_FAILURES_PER_IP: '3' });
    const code = server.harken.setupCode as string;
    const setup = (setupCode: string, ip: string) =>
      server.harken.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { setupCode, username: 'root', password: PASSWORD }, remoteAddress: ip });
    for (let attempt = 0; attempt < 3; attempt += 1) expect((await setup('AAAAA-BBBBB-CCCCC-DDDDD', '203.0.113.5')).statusCode).toBe(401);
    expect((await setup(code, '203.0.113.5')).statusCode).toBe(429);
    expect((await setup(code, '198.51.100.7')).statusCode).toBe(201);
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
