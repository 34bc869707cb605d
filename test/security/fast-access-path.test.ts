import { afterEach, describe, expect, it } from 'vitest';
import { RateLimits } from '../../src/security/rate-limits.js';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

describe('rate limits counted in memory, synchronously', () => {
  it('keeps fixed windows per bucket and key: remaining, reset, the first refusal marked once, a new window after the end', () => {
    let nowMs = 1_000_000;
    const limits = new RateLimits(60, () => nowMs);
    const bucket = { name: 'caller', key: 'key:a', limit: 2 };
    expect(limits.consume([bucket])).toMatchObject({ allowed: true, remaining: 1, resetSeconds: 60, firstRefusal: false });
    nowMs += 30_500;
    expect(limits.consume([bucket])).toMatchObject({ allowed: true, remaining: 0, resetSeconds: 30 });
    expect(limits.consume([bucket])).toMatchObject({ allowed: false, remaining: 0, firstRefusal: true });
    expect(limits.consume([bucket])).toMatchObject({ allowed: false, firstRefusal: false });
    // Another key, and the same key under another limit, count apart.
    expect(limits.consume([{ ...bucket, key: 'key:b' }])).toMatchObject({ allowed: true, remaining: 1 });
    expect(limits.consume([{ ...bucket, limit: 5 }])).toMatchObject({ allowed: true, remaining: 4 });
    nowMs += 29_500;
    expect(limits.consume([bucket])).toMatchObject({ allowed: true, remaining: 1, resetSeconds: 60, firstRefusal: false });
  });

  it('reports the tightest bucket, and a refusing one over any allowing one', () => {
    const limits = new RateLimits(60, () => 0);
    const wide = { name: 'caller', key: 'k', limit: 100 };
    const narrow = { name: 'route:/v1/voice-chat', key: 'k', limit: 3 };
    expect(limits.consume([wide, narrow])).toMatchObject({ allowed: true, bucket: narrow, remaining: 2 });
    limits.consume([narrow]);
    limits.consume([narrow]);
    expect(limits.consume([wide, narrow])).toMatchObject({ allowed: false, bucket: narrow });
  });
});

describe('the authenticated fast path', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const start = async (env: Record<string, string> = {}) => {
    const server = await startTestServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false', ...env });
    servers.push(server);
    return server;
  };

  it('answers from memory exactly as from the database: valid, wrong secret, malformed, revoked, expired, disabled', async () => {
    const server = await start();
    const { authenticator, keys, accounts } = server.harken.access;
    const { key, view } = await keys.create({ name: 'kiosk', scopes: ['conversations'], rateLimit: 7 });
    const { secret, view: account } = await accounts.create('porch', ['realtime']);
    const expiring = await keys.create({ name: 'short', scopes: ['conversations'], expiresAt: new Date(Date.now() + 400) });
    const wrongSecret = `${key.slice(0, -4)}AAAA`;
    const presented = [key, secret, expiring.key, wrongSecret, 'hk_short_bad', 'hksa_x_y', 'hk_unknownidxx_' + 'A'.repeat(43)].map((bearerValue) => ({ bearer: bearerValue }));

    // Nothing is cached yet: the fast path declines (the first use loads the row), except what is malformed on its face.
    expect(authenticator.authenticateCached({ bearer: key })).toBeUndefined();
    expect(authenticator.authenticateCached({ bearer: 'hk_short_bad' })).toMatchObject({ ok: false, code: 'malformed_credentials' });
    // Tokens and sessions always take the full path.
    expect(authenticator.authenticateCached({ sessionCookie: 'x' })).toBeUndefined();

    const compare = async () => {
      for (const credentials of presented) {
        const full = await authenticator.authenticate(credentials);
        const fast = authenticator.authenticateCached(credentials);
        // Unknown ids are never cached, so only they may still decline.
        if (fast === undefined) expect(full).toMatchObject({ ok: false, code: 'invalid_credentials' });
        else expect(fast).toEqual(full);
      }
    };
    await compare();
    expect(authenticator.authenticateCached({ bearer: key })).toMatchObject({ ok: true, caller: { id: view.id, scopes: ['conversations'], rateLimit: 7, via: 'secret' } });
    expect(authenticator.authenticateCached({ bearer: secret })).toMatchObject({ ok: true, caller: { id: account.id, kind: 'service-account' } });
    expect(authenticator.authenticateCached({ bearer: wrongSecret })).toMatchObject({ ok: false, code: 'invalid_credentials' });

    await keys.revoke(view.id);
    await accounts.disable(account.id);
    await new Promise((resolve) => setTimeout(resolve, 450));
    await compare();
    expect(authenticator.authenticateCached({ bearer: key })).toMatchObject({ ok: false, code: 'credentials_revoked' });
    expect(authenticator.authenticateCached({ bearer: secret })).toMatchObject({ ok: false, code: 'credentials_revoked' });
    expect(authenticator.authenticateCached({ bearer: expiring.key })).toMatchObject({ ok: false, code: 'credentials_expired' });
  });

  it('sends the address allowance on a 401 and the caller’s on a success, and still counts bad credentials per address', async () => {
    const server = await start({ HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '3', HARKEN_RATE_LIMIT_REQUESTS: '50' });
    const key = await server.createKey(['conversations']);
    const denied = await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer('hk_nothingatall_' + 'A'.repeat(43)), remoteAddress: '10.1.1.1' });
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['ratelimit-policy']).toBe('3;w=60;name="ip"');
    expect(denied.headers['ratelimit-remaining']).toBe('2');
    const ok = await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key), remoteAddress: '10.1.1.1' });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['ratelimit-policy']).toBe('50;w=60;name="caller"');
    await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer('wrong'), remoteAddress: '10.1.1.1' });
    const refused = await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key), remoteAddress: '10.1.1.1' });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.message).toMatch(/^too many requests \(ip: 3 per 60 s\)/);
  });

  it('writes one line per request with safe fields, none for the health probes, and follows a live log level change', async () => {
    const server = await start();
    const key = await server.createKey(['conversations']);
    const secretish = 'hk_abcdefghijkl_' + 'B'.repeat(43);
    await server.harken.app.inject({ method: 'GET', url: `/v1/agents?x-api-key=${secretish}&page=2`, headers: { ...bearer(key), 'x-request-id': 'line-1' }, remoteAddress: '203.0.113.77' });
    await server.harken.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'probe-1' } });
    const lines = server.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const line = lines.find((entry) => entry.reqId === 'line-1');
    expect(line).toMatchObject({ level: 30, msg: 'request completed', method: 'GET', url: '/v1/agents?x-api-key=[redacted]&page=2', remoteAddress: '203.0.113.0/24', statusCode: 200, service: 'harken' });
    expect(typeof line?.responseTime).toBe('number');
    expect(typeof line?.time).toBe('string');
    expect(server.logs.text).not.toContain(secretish);
    expect(lines.some((entry) => entry.reqId === 'probe-1')).toBe(false);

    server.harken.app.log.level = 'warn';
    await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: { ...bearer(key), 'x-request-id': 'line-2' } });
    expect(server.logs.text).not.toContain('line-2');
    server.harken.app.log.level = 'info';
    await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: { ...bearer(key), 'x-request-id': 'line-3' } });
    expect(server.logs.text).toContain('"reqId":"line-3"');
  });
});
