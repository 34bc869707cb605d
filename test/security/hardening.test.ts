import { request } from 'node:http';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { createHarken } from '../../src/runtime.js';
import { maskIp } from '../../src/security/ip-mask.js';
import { SecretError } from '../../src/security/server-secrets.js';
import { LogCapture, startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const STRONG_SECRET = 'q7Vt2mXk9PzR4wLb8NcY3hJs6FgD1aQe5uTiO0pZ';

describe('hardening', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const start = async (env: Record<string, string> = {}, dataDir = tempDir()) => {
    const server = await startTestServer(dataDir, { HARKEN_VOICE_ENABLED: 'false', ...env });
    servers.push(server);
    return server;
  };
  const refusal = async (env: Record<string, string>, dataDir = tempDir()): Promise<{ error: unknown; logs: string }> => {
    const logs = new LogCapture();
    const config = loadConfig({ env: { HARKEN_DATA_DIR: dataDir, HARKEN_VOICE_ENABLED: 'false', ...env } });
    try {
      const harken = await createHarken(config, createLogger({ level: 'info', format: 'json', destination: logs }));
      await harken.close();
    } catch (error) {
      return { error, logs: logs.text };
    }
    return { error: undefined, logs: logs.text };
  };

  it('generates the token signing key into a 0600 file in a 0700 directory, never into a log', async () => {
    const dataDir = tempDir();
    const server = await start({}, dataDir);
    const file = join(dataDir, 'secrets', 'token-signing.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'secrets')).mode & 0o777).toBe(0o700);
    const secret = readFileSync(file, 'utf8').trim();
    expect(secret.length).toBeGreaterThanOrEqual(64);
    expect(server.logs.text).toContain('generated the token signing key');
    expect(server.logs.text).not.toContain(secret);
    // A restart reuses it: tokens stay valid.
    const { token } = (await server.inject({ method: 'POST', url: '/v1/auth/token' })).json() as { token: string };
    await server.harken.close();
    servers.pop();
    const again = await start({}, dataDir);
    const me = await again.harken.app.inject({ method: 'GET', url: '/v1/auth/me', headers: { authorization: `Bearer ${token}` } });
    expect(me.statusCode).toBe(200);
  });

  it('refuses a secret file other users can read, and weak secrets in production', async () => {
    const dataDir = tempDir();
    mkdirSync(join(dataDir, 'secrets'), { recursive: true });
    const file = join(dataDir, 'secrets', 'token-signing.key');
    writeFileSync(file, `${STRONG_SECRET}\n`);
    chmodSync(file, 0o644);
    const readable = await refusal({}, dataDir);
    expect(readable.error).toBeInstanceOf(SecretError);
    expect((readable.error as Error).message).toBe(`secret file ${file} is readable by other users (mode 0644); run: chmod 600 ${file}`);

    const weak = await refusal({ HARKEN_SERVER_ENVIRONMENT: 'production', HARKEN_AUTH_TOKEN_SECRET: 'changeme' });
    expect((weak.error as Error).message).toBe(
      'refusing to start in production: HARKEN_AUTH_TOKEN_SECRET is weak: it is a well-known default; use `harken secrets generate` or at least 32 random characters',
    );
    const short = await refusal({ HARKEN_SERVER_ENVIRONMENT: 'production', HARKEN_AUTH_TOKEN_SECRET: 'Xy7-short-but-random' });
    expect((short.error as Error).message).toMatch(/is weak: it is shorter than 32 characters/);
    const repetitive = await refusal({ HARKEN_SERVER_ENVIRONMENT: 'production', HARKEN_AUTH_TOKEN_SECRET: 'ab'.repeat(20) });
    expect((repetitive.error as Error).message).toMatch(/fewer than 10 distinct characters/);
    expect((await refusal({ HARKEN_SERVER_ENVIRONMENT: 'production', HARKEN_AUTH_TOKEN_SECRET: STRONG_SECRET })).error).toBeUndefined();

    // Development starts, warning without the value.
    const development = await refusal({ HARKEN_AUTH_TOKEN_SECRET: 'changeme' });
    expect(development.error).toBeUndefined();
    expect(development.logs).toContain('HARKEN_AUTH_TOKEN_SECRET is weak');
    expect(development.logs).not.toMatch(/"changeme|changeme"/);
  });

  it('sends security headers: a deny-all CSP on API answers, Helmet’s full set on pages, and the docs page still works', async () => {
    const server = await start();
    for (const url of ['/health', '/v1/agents', '/v1/no-such-route']) {
      const answer = await server.harken.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${server.apiKey}` } });
      expect(answer.headers['x-content-type-options'], url).toBe('nosniff');
      expect(answer.headers['x-frame-options'], url).toBe('DENY');
      expect(answer.headers['referrer-policy'], url).toBe('no-referrer');
      // JSON is never a document: nothing may load from it or frame it.
      expect(answer.headers['content-security-policy'], url).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(answer.headers['strict-transport-security'], url).toBeUndefined();
    }

    const docs = await server.harken.app.inject({ method: 'GET', url: '/docs' });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toMatch(/<script src="[^"]*swagger-initializer.js"/);
    // An HTML page gets the document headers too.
    expect(docs.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(docs.headers['x-frame-options']).toBe('SAMEORIGIN');
    // The docs page keeps swagger-ui's own static CSP: scripts only from this server, none inline.
    const docsCsp = String(docs.headers['content-security-policy']);
    expect(docsCsp).toMatch(/script-src 'self' ;/);
    expect(docsCsp).not.toContain('unsafe');
    expect(docsCsp).not.toContain('upgrade-insecure-requests');
    const production = await start({ HARKEN_SERVER_ENVIRONMENT: 'production', HARKEN_AUTH_TOKEN_SECRET: STRONG_SECRET });
    const secured = await production.harken.app.inject({ method: 'GET', url: '/health' });
    expect(secured.headers['strict-transport-security']).toMatch(/max-age=\d+/);
  });

  it('refuses oversized header blocks with 431 and oversized bodies with 413, without stack traces', async () => {
    const server = await start({ HARKEN_SERVER_MAX_HEADER_BYTES: '4096' });
    const url = new URL(await server.harken.app.listen({ host: '127.0.0.1', port: 0 }));
    const status = await new Promise<number>((resolve, reject) => {
      const outgoing = request({ host: url.hostname, port: url.port, path: '/health', headers: { 'x-filler': 'a'.repeat(8_000) } }, (response) => resolve(response.statusCode ?? 0));
      outgoing.on('error', reject);
      outgoing.end();
    });
    expect(status).toBe(431);
    const big = await server.inject({ method: 'POST', url: '/v1/conversations', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ agent: 'x'.repeat(2_000_000) }) });
    expect(big.statusCode).toBe(413);
    expect(big.body).not.toMatch(/\n\s+at /);
  });

  it('masks client addresses: IPv4 to /24, IPv6 to /48', () => {
    expect(maskIp('203.0.113.77')).toBe('203.0.113.0/24');
    expect(maskIp('::ffff:198.51.100.9')).toBe('198.51.100.0/24');
    expect(maskIp('2001:db8:85a3:8d3:1319:8a2e:370:7348')).toBe('2001:db8:85a3::/48');
    expect(maskIp('2001:db8::1')).toBe('2001:db8:0::/48');
    expect(maskIp('::1')).toBe('0:0:0::/48');
    expect(maskIp(undefined)).toBeNull();
  });
});

describe('audit log', () => {
  const tempDir = useTempDirs();

  it('filters, pages, and deletes events past the retention period on start', async () => {
    const dataDir = tempDir();
    let offsetMs = 0;
    const clock = () => new Date(Date.now() + offsetMs);
    const first = await startTestServer(dataDir, { HARKEN_VOICE_ENABLED: 'false', HARKEN_AUDIT_RETENTION_DAYS: '30' }, clock);
    for (let index = 0; index < 5; index += 1) await first.harken.access.audit.record({ action: 'token.issued', outcome: 'success', actor: `key:k${index}`, ip: '192.0.2.1' });
    await first.harken.access.audit.record({ action: 'auth.login', outcome: 'failure', actor: 'admin:eve', ip: '192.0.2.1' });
    const page1 = (await first.inject({ method: 'GET', url: '/v1/admin/audit?action=token.issued&limit=2' })).json();
    expect(page1.events.map((event: { actor: string }) => event.actor)).toEqual(['key:k4', 'key:k3']);
    const page2 = (await first.inject({ method: 'GET', url: `/v1/admin/audit?action=token.issued&limit=2&cursor=${page1.nextCursor}` })).json();
    expect(page2.events.map((event: { actor: string }) => event.actor)).toEqual(['key:k2', 'key:k1']);
    const failures = (await first.inject({ method: 'GET', url: '/v1/admin/audit?outcome=failure&actor=admin:eve' })).json().events;
    expect(failures).toEqual([expect.objectContaining({ action: 'auth.login', ip: '192.0.2.0/24' })]);
    expect((await first.inject({ method: 'GET', url: '/v1/admin/audit?since=not-a-date' })).statusCode).toBe(400);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await first.inject({ method: 'GET', url: `/v1/admin/audit?since=${future}` })).json().events).toEqual([]);
    await first.harken.close();

    // 31 days later the old events are gone; what happened since is kept.
    offsetMs = 31 * 86_400_000;
    const later = await startTestServer(dataDir, { HARKEN_VOICE_ENABLED: 'false', HARKEN_AUDIT_RETENTION_DAYS: '30' }, clock);
    try {
      const events = (await later.inject({ method: 'GET', url: '/v1/admin/audit?limit=500' })).json().events as Array<{ action: string }>;
      expect(events.some((event) => event.action === 'token.issued' || event.action === 'auth.login')).toBe(false);
      expect(later.logs.text).toMatch(/old audit events deleted/);
    } finally {
      await later.harken.close();
    }
  });
});
