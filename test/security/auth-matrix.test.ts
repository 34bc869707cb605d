import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteAccess } from '../../src/server/access-control.js';
import { SCOPES, type Scope } from '../../src/security/scopes.js';
import { startTestServer, voiceTestEnv, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** What each route requires; a new route must be added here, so its access is a decision, not a default. */
const EXPECTED_ACCESS: Record<string, string> = {
  'GET /': 'public',
  'GET /assets/:name': 'public',
  'GET /health': 'public',
  'GET /ready': 'public',
  'POST /v1/auth/login': 'public',
  'POST /v1/auth/setup': 'public',
  'POST /v1/auth/logout': 'authenticated',
  'GET /v1/auth/me': 'authenticated',
  'POST /v1/auth/token': 'authenticated',
  'GET /v1/agents': 'conversations',
  'POST /v1/conversations': 'conversations',
  'GET /v1/conversations': 'conversations',
  'GET /v1/conversations/:id': 'conversations',
  'GET /v1/conversations/:id/export': 'conversations',
  'POST /v1/conversations/:id/messages': 'conversations',
  'DELETE /v1/conversations/:id': 'conversations',
  'POST /v1/transcribe': 'transcribe',
  'POST /v1/synthesize': 'synthesize',
  'POST /v1/voice-chat': 'conversations',
  'POST /v1/audio/transcriptions': 'transcribe',
  'POST /v1/audio/speech': 'synthesize',
  'GET /v1/models': 'authenticated',
  'GET /v1/models/:model': 'authenticated',
  'GET /v1/realtime': 'realtime',
  'POST /v1/calls': 'calls',
  'GET /v1/calls': 'calls',
  'GET /v1/calls/:id': 'calls',
  'POST /v1/calls/:id/hangup': 'calls',
  'POST /v1/admin/keys': 'admin',
  'GET /v1/admin/keys': 'admin',
  'DELETE /v1/admin/keys/:id': 'admin',
  'POST /v1/admin/service-accounts': 'admin',
  'GET /v1/admin/service-accounts': 'admin',
  'POST /v1/admin/service-accounts/:id/rotate': 'admin',
  'DELETE /v1/admin/service-accounts/:id': 'admin',
  'GET /v1/admin/audit': 'admin',
  'GET /v1/admin/sessions': 'admin',
  'GET /v1/admin/process': 'admin',
  'GET /v1/admin/resources': 'admin',
  'GET /v1/admin/health': 'admin',
  'GET /metrics': 'metrics',
  'GET /v1/admin/events': 'admin',
  'GET /v1/admin/engines': 'admin',
  'GET /v1/config': 'admin',
  'PUT /v1/admin/config': 'admin',
  'POST /v1/auth/password': 'admin',
  'GET /v1/auth/sessions': 'admin',
  'DELETE /v1/auth/sessions': 'admin',
  'DELETE /v1/auth/sessions/:id': 'admin',
  'POST /v1/auth/totp': 'admin',
  'POST /v1/auth/totp/confirm': 'admin',
  'DELETE /v1/auth/totp': 'admin',
  'GET /v1/admin/admins': 'admin',
  'POST /v1/admin/admins': 'admin',
  'PATCH /v1/admin/admins/:id': 'admin',
  'POST /v1/admin/admins/:id/password': 'admin',
  'DELETE /v1/admin/admins/:id/sessions': 'admin',
  'DELETE /v1/admin/admins/:id': 'admin',
};

/** Routes that answer like OpenAI's API, errors included. */
const OPENAI_SHAPED = /^\/v1\/(audio|models)(\/|$)/;

/** Routes that mint, rotate or revoke credentials: refused to anything but an admin login session. */
const CREDENTIAL_MANAGEMENT = new Set([
  'PUT /v1/admin/config',
  'POST /v1/admin/keys',
  'DELETE /v1/admin/keys/:id',
  'POST /v1/admin/service-accounts',
  'POST /v1/admin/service-accounts/:id/rotate',
  'DELETE /v1/admin/service-accounts/:id',
  'POST /v1/auth/password',
  'GET /v1/auth/sessions',
  'DELETE /v1/auth/sessions',
  'DELETE /v1/auth/sessions/:id',
  'POST /v1/auth/totp',
  'POST /v1/auth/totp/confirm',
  'DELETE /v1/auth/totp',
  'POST /v1/admin/admins',
  'PATCH /v1/admin/admins/:id',
  'POST /v1/admin/admins/:id/password',
  'DELETE /v1/admin/admins/:id/sessions',
  'DELETE /v1/admin/admins/:id',
]);

/** Answers that never end (Server-Sent Events): only refusals are injected here; test/web/live.test.ts reads the allowed stream over HTTP. */
const STREAMING = new Set(['GET /v1/admin/events']);

type Variant = 'none' | 'malformed' | 'wrong' | 'unknown' | 'expired' | 'expiredToken' | 'revoked' | 'revokedKeyToken' | 'wrongScope' | 'exactScope' | 'valid';

/** What an attacker (or a confused client) gets: the status and error code. */
const expectedOutcome = (access: string, variant: Variant, route = ''): { status: number; code: string } | 'allowed' => {
  if (CREDENTIAL_MANAGEMENT.has(route) && (variant === 'valid' || variant === 'exactScope')) return { status: 403, code: 'session_required' };
  if (access === 'public' || variant === 'valid' || variant === 'exactScope') return 'allowed';
  switch (variant) {
    case 'none':
      return { status: 401, code: 'unauthenticated' };
    case 'malformed':
      return { status: 401, code: 'malformed_credentials' };
    case 'wrong':
    case 'unknown':
      return { status: 401, code: 'invalid_credentials' };
    case 'expired':
    case 'expiredToken':
      return { status: 401, code: 'credentials_expired' };
    case 'revoked':
    case 'revokedKeyToken':
      return { status: 401, code: 'credentials_revoked' };
    case 'wrongScope':
      return access === 'authenticated' ? 'allowed' : { status: 403, code: 'insufficient_scope' };
  }
};

/** A request that reaches the route: parameters filled with well-formed values. */
const sampleUrl = (route: RouteAccess): string =>
  route.url
    .replace('/v1/conversations/:id', `/v1/conversations/${randomUUID()}`)
    .replace(':id', 'aaaaaaaaaaaa')
    .replace('*', 'index.html');

describe('auth matrix: every route × every kind of credential', () => {
  const tempDir = useTempDirs();
  let server: TestServer;
  let clockOffsetMs = 0;
  const credentials = {} as Record<Exclude<Variant, 'none' | 'wrongScope' | 'exactScope'>, string>;
  const byScope = {} as Record<Scope, string>;

  beforeAll(async () => {
    server = await startTestServer(tempDir(), voiceTestEnv(), () => new Date(Date.now() + clockOffsetMs));
    const { keys, tokens } = server.harken.access;
    for (const scope of SCOPES) byScope[scope] = await server.createKey([scope]);
    const revoked = await keys.create({ name: 'revoked', scopes: ['admin'] });
    const expiring = await keys.create({ name: 'expiring', scopes: ['admin'], expiresAt: new Date(Date.now() + 60_000) });
    const revokedKeyToken = await tokens.issue({ kind: 'key', id: revoked.view.id }, ['admin'], 3_600);
    const shortToken = await tokens.issue({ kind: 'key', id: (await keys.create({ name: 'token source', scopes: ['admin'] })).view.id }, ['admin'], 30);
    await keys.revoke(revoked.view.id);
    const validId = server.apiKey.split('_')[1];
    credentials.valid = server.apiKey;
    credentials.malformed = 'not-a-key';
    credentials.wrong = `hk_${validId}_${randomBytes(32).toString('base64url')}`;
    credentials.unknown = `hk_zzzzzzzzzzzz_${randomBytes(32).toString('base64url')}`;
    credentials.revoked = revoked.key;
    credentials.revokedKeyToken = revokedKeyToken.token;
    credentials.expired = expiring.key;
    credentials.expiredToken = shortToken.token;
    // Ten minutes later: the expiring key and the short token are past their time.
    clockOffsetMs = 10 * 60_000;
  }, 60_000);

  afterAll(async () => {
    await server?.harken.close();
  });

  it('declares the expected access on every route, none by default', () => {
    const table = server.harken.app.accessTable.filter((route) => !route.url.startsWith('/docs'));
    const actual = Object.fromEntries(table.map((route) => [`${route.method} ${route.url}`, route.access]));
    expect(actual).toEqual(EXPECTED_ACCESS);
    expect(server.harken.app.accessTable.filter((route) => route.url.startsWith('/docs')).every((route) => route.access === 'public')).toBe(true);
  });

  it('answers each combination with the right status and error code', async () => {
    const variants: Variant[] = ['none', 'malformed', 'wrong', 'unknown', 'expired', 'expiredToken', 'revoked', 'revokedKeyToken', 'wrongScope', 'exactScope', 'valid'];
    const mismatches: string[] = [];
    let checked = 0;
    for (const route of server.harken.app.accessTable) {
      for (const variant of variants) {
        let credential: string | undefined;
        if (variant === 'wrongScope') {
          // A scope this route does not accept (any scope but the one it needs and admin).
          credential = byScope[route.access === 'satellite.stream' ? 'satellite.heartbeat' : route.access === 'conversations' ? 'transcribe' : 'conversations'];
        } else if (variant === 'exactScope') {
          credential = SCOPES.includes(route.access as Scope) ? byScope[route.access as Scope] : byScope.conversations;
        } else if (variant !== 'none') {
          credential = credentials[variant];
        }
        if (STREAMING.has(`${route.method} ${route.url}`) && expectedOutcome(route.access, variant, `${route.method} ${route.url}`) === 'allowed') continue;
        const response = await server.harken.app.inject({
          method: route.method as 'GET',
          url: sampleUrl(route),
          headers: credential ? { authorization: `Bearer ${credential}` } : {},
          ...(route.method === 'POST' ? { payload: {} } : {}),
        });
        checked += 1;
        const expected = expectedOutcome(route.access, variant, `${route.method} ${route.url}`);
        const label = `${route.method} ${route.url} with ${variant}`;
        if (response.statusCode >= 500) mismatches.push(`${label}: ${response.statusCode}`);
        else if (expected === 'allowed') {
          if (response.statusCode === 401 || response.statusCode === 403) mismatches.push(`${label}: refused ${response.statusCode} ${response.body}`);
        } else {
          const error = (response.json() as { error?: { code?: string; type?: string; param?: unknown } }).error;
          const code = error?.code;
          if (response.statusCode !== expected.status || code !== expected.code) mismatches.push(`${label}: got ${response.statusCode} ${code}, expected ${expected.status} ${expected.code}`);
          // The OpenAI-compatible routes answer in OpenAI's error shape, refusals included.
          if (OPENAI_SHAPED.test(route.url) && (error?.type !== 'invalid_request_error' || error.param !== null)) mismatches.push(`${label}: not in OpenAI's error shape: ${response.body}`);
          if (expected.status === 401 && !String(response.headers['www-authenticate']).startsWith('Bearer')) mismatches.push(`${label}: no WWW-Authenticate`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(Object.keys(EXPECTED_ACCESS).length * variants.length);
  }, 120_000);

  it('audits refused credentials without the secrets', async () => {
    const denied = await server.inject({ method: 'GET', url: '/v1/admin/audit?action=auth.denied&limit=500' });
    const events = denied.json().events as Array<{ actor: string; details: { reason: string } }>;
    expect(new Set(events.map((event) => event.details.reason))).toEqual(new Set(['malformed_credentials', 'invalid_credentials', 'credentials_expired', 'credentials_revoked']));
    const forbidden = await server.inject({ method: 'GET', url: '/v1/admin/audit?action=auth.forbidden&limit=1' });
    expect(forbidden.json().events[0].details.needed).toBeDefined();
    const logs = server.logs.text;
    // The secret part of each key (after hk_<id>_) and each token's signature.
    const secretPart = (credential: string) => (credential.startsWith('hk_') ? credential.split('_').slice(2).join('_') : (credential.split('.').at(-1) as string));
    for (const credential of [...Object.values(credentials), ...Object.values(byScope)]) {
      expect(logs).not.toContain(secretPart(credential));
    }
  });
});
