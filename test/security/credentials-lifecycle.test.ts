import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/credentials.js';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

describe('API keys, tokens and service accounts over the admin API', () => {
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

  it('shows a key once, stores only its hash, tracks use and revokes it at once', async () => {
    const server = await start();
    const admin = await server.loginAdmin();
    const created = await admin.inject({ method: 'POST', url: '/v1/admin/keys', payload: { name: 'kiosk', scopes: ['conversations'], rateLimit: 100 } });
    expect(created.statusCode).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const { key, id } = created.json() as { key: string; id: string };
    expect(key).toMatch(new RegExp(`^hk_${id}_[A-Za-z0-9_-]{43}$`));
    const secret = key.slice(`hk_${id}_`.length);

    // Only the hash is stored: neither the key nor its secret is anywhere in the database file.
    const row = await server.harken.database.kysely.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.secret_hash).toBe(sha256Hex(secret));
    const databaseBytes = readFileSync(server.config.store.sqlitePath).toString('latin1') + readFileSync(`${server.config.store.sqlitePath}-wal`).toString('latin1');
    expect(databaseBytes).not.toContain(secret);

    const listed = await server.inject({ method: 'GET', url: '/v1/admin/keys' });
    expect(listed.body).not.toContain(secret);
    expect(listed.json().keys.find((entry: { id: string }) => entry.id === id)).toMatchObject({ name: 'kiosk', status: 'active', usageCount: 0, lastUsedAt: null, rateLimit: 100 });

    for (let call = 0; call < 3; call += 1) expect((await server.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) })).statusCode).toBe(200);
    const used = (await server.inject({ method: 'GET', url: '/v1/admin/keys' })).json().keys.find((entry: { id: string }) => entry.id === id);
    expect(used.usageCount).toBe(3);
    expect(Date.parse(used.lastUsedAt)).toBeGreaterThan(Date.now() - 10_000);

    const token = (await server.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(key) })).json().token as string;
    expect((await server.inject({ method: 'GET', url: '/v1/agents', headers: bearer(token) })).statusCode).toBe(200);

    const revoked = await admin.inject({ method: 'DELETE', url: `/v1/admin/keys/${id}` });
    expect(revoked.json()).toMatchObject({ id, status: 'revoked' });
    const refused = await server.inject({ method: 'GET', url: '/v1/agents', headers: bearer(key) });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe('credentials_revoked');
    // The token made from the key dies with it.
    expect((await server.inject({ method: 'GET', url: '/v1/agents', headers: bearer(token) })).json().error.code).toBe('credentials_revoked');
    expect((await admin.inject({ method: 'DELETE', url: '/v1/admin/keys/zzzzzzzzzzzz' })).statusCode).toBe(404);

    const audit = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=key.*' })).json().events as Array<{ action: string; target: string }>;
    expect(audit.map((event) => event.action)).toEqual(['key.revoked', 'key.created']);
    expect(server.logs.text).not.toContain(secret);
    expect(server.logs.text).not.toContain(token);
  });

  it('validates key creation input', async () => {
    const server = await start();
    const admin = await server.loginAdmin();
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'x', scopes: [] }, /scopes/],
      [{ name: 'x', scopes: ['root'] }, /scopes/],
      [{ name: '', scopes: ['admin'] }, /name/],
      [{ name: 'x', scopes: ['admin'], expiresAt: '2001-01-01T00:00:00Z' }, /expiresAt must be in the future/],
      [{ name: 'x', scopes: ['admin'], expiresAt: 'tomorrow' }, /expiresAt/],
      [{ name: 'x', scopes: ['admin'], owner: 'me' }, /owner is not allowed/],
    ];
    for (const [payload, message] of cases) {
      const response = await admin.inject({ method: 'POST', url: '/v1/admin/keys', payload: payload as object });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error.message).toMatch(message);
    }
  });

  it('issues scoped, short-lived tokens and refuses to widen or chain them', async () => {
    const server = await start({ HARKEN_AUTH_TOKEN_MAX_TTL_SECONDS: '600' });
    const key = await server.createKey(['conversations', 'transcribe']);
    const issued = await server.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(key), payload: { scopes: ['conversations'], ttlSeconds: 60 } });
    expect(issued.statusCode).toBe(201);
    const body = issued.json() as { token: string; expiresIn: number; expiresAt: string; scopes: string[]; tokenType: string };
    expect(body).toMatchObject({ tokenType: 'Bearer', expiresIn: 60, scopes: ['conversations'] });
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(50_000);
    const me = await server.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(body.token) });
    expect(me.json()).toMatchObject({ kind: 'api-key', scopes: ['conversations'], via: 'token' });
    // Narrowed: the token cannot transcribe although its key can.
    expect((await server.inject({ method: 'POST', url: '/v1/transcribe', headers: bearer(body.token) })).json().error.code).toBe('insufficient_scope');

    const widen = await server.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(key), payload: { scopes: ['admin'] } });
    expect(widen.statusCode).toBe(403);
    expect(widen.json().error.message).toMatch(/cannot grant: admin/);
    const chained = await server.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(body.token) });
    expect(chained.json().error.code).toBe('token_not_allowed');
    const tooLong = await server.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(key), payload: { ttlSeconds: 601 } });
    expect(tooLong.statusCode).toBe(400);

    // A token signed with another key, or tampered with, is refused.
    const [header, payload] = body.token.split('.');
    const forged = `${header}.${payload}.${Buffer.from('forged signature').toString('base64url')}`;
    expect((await server.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(forged) })).json().error.code).toBe('invalid_credentials');
    const alg = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expect((await server.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(`${alg}.${payload}.`) })).statusCode).toBe(401);
    expect(server.logs.text).not.toContain(body.token);
  });

  it('gives service accounts permissions and rotates their secret', async () => {
    const server = await start();
    const admin = await server.loginAdmin();
    const created = await admin.inject({ method: 'POST', url: '/v1/admin/service-accounts', payload: { name: 'kitchen-satellite', permissions: ['satellite.stream', 'satellite.heartbeat'] } });
    expect(created.statusCode).toBe(201);
    const { id, secret } = created.json() as { id: string; secret: string };
    expect(secret).toMatch(/^hksa_/);
    expect((await admin.inject({ method: 'POST', url: '/v1/admin/service-accounts', payload: { name: 'kitchen-satellite', permissions: ['realtime'] } })).statusCode).toBe(409);

    const token = await server.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(secret), payload: { scopes: ['satellite.heartbeat'] } });
    expect(token.statusCode).toBe(201);
    const me = (await server.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(token.json().token) })).json();
    expect(me).toMatchObject({ kind: 'service-account', id, scopes: ['satellite.heartbeat'] });
    // Satellite permissions do not open the conversation API.
    expect((await server.inject({ method: 'GET', url: '/v1/conversations', headers: bearer(secret) })).statusCode).toBe(403);

    const rotated = await admin.inject({ method: 'POST', url: `/v1/admin/service-accounts/${id}/rotate` });
    const newSecret = rotated.json().secret as string;
    expect(newSecret).not.toBe(secret);
    expect((await server.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(secret) })).json().error.code).toBe('invalid_credentials');
    expect((await server.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(newSecret) })).statusCode).toBe(200);

    const listed = await server.inject({ method: 'GET', url: '/v1/admin/service-accounts' });
    expect(listed.json().serviceAccounts).toEqual([expect.objectContaining({ id, name: 'kitchen-satellite', permissions: ['satellite.stream', 'satellite.heartbeat'], disabledAt: null })]);
    expect(listed.body).not.toContain(newSecret.slice(-43));

    expect((await admin.inject({ method: 'DELETE', url: `/v1/admin/service-accounts/${id}` })).json().disabledAt).not.toBeNull();
    expect((await server.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(newSecret) })).json().error.code).toBe('credentials_revoked');
    const actions = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=service_account.*' })).json().events.map((event: { action: string }) => event.action);
    expect(actions).toEqual(['service_account.disabled', 'service_account.rotated', 'service_account.created']);
    for (const value of [secret, newSecret, token.json().token as string]) expect(server.logs.text).not.toContain(value);
  });
});
