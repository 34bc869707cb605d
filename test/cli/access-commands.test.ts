import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCliServer } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const PASSWORD = 'a long enough admin password';

describe('harken CLI: keys, admins, service accounts, secrets', () => {
  const tempDir = useTempDirs();

  it('creates, lists and revokes API keys that a running server honours at once', async () => {
    const cwd = tempDir();
    const created = runCli(['keys', 'create', '--name', 'kiosk', '--scopes', 'conversations,realtime', '--expires-in', '30d', '--rate-limit', '120', '--json'], { cwd });
    expect(created.status).toBe(0);
    const key = JSON.parse(created.stdout) as { key: string; id: string; scopes: string[]; expiresAt: string; rateLimit: number; createdBy: string };
    expect(key).toMatchObject({ scopes: ['conversations', 'realtime'], rateLimit: 120, createdBy: expect.stringMatching(/^cli:/) });
    expect(Date.parse(key.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    const text = runCli(['keys', 'create', '--name', 'ops', '--scopes', 'admin'], { cwd });
    expect(text.stdout).toMatch(/^hk_[a-z0-9]{12}_\S{43}\n\(store this key now: it is not shown again; id [a-z0-9]{12}\)\n$/);

    const server = await startCliServer({ cwd });
    try {
      const agents = () => fetch(`${server.url}/v1/agents`, { headers: { authorization: `Bearer ${key.key}` } });
      expect((await agents()).status).toBe(200);
      const listed = runCli(['keys', 'list', '--json'], { cwd });
      const entry = (JSON.parse(listed.stdout) as { keys: Array<{ id: string; usageCount: number; status: string }> }).keys.find((item) => item.id === key.id);
      expect(entry).toMatchObject({ usageCount: 1, status: 'active' });
      expect(listed.stdout).not.toContain(key.key);
      expect(runCli(['keys', 'list'], { cwd }).stdout).toMatch(new RegExp(`${key.id}  active   default  kiosk  \\[conversations,realtime\\]  used 1×, last `));

      expect(runCli(['keys', 'revoke', key.id], { cwd }).stdout).toBe(`revoked ${key.id} (kiosk)\n`);
      const refused = await agents();
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('credentials_revoked');
    } finally {
      await server.stop();
    }
    expect(server.stdout()).not.toContain(key.key.slice(-43));
  }, 60_000);

  it('reports misuse with exit code 2 and unknown ids with exit code 1', () => {
    const cwd = tempDir();
    const badScope = runCli(['keys', 'create', '--name', 'x', '--scopes', 'everything'], { cwd });
    expect(badScope.status).toBe(2);
    expect(badScope.stderr).toBe('harken: unknown scope everything; known: conversations, realtime, transcribe, synthesize, calls, metrics, admin, satellite.stream, satellite.heartbeat\n');
    const badExpiry = runCli(['keys', 'create', '--name', 'x', '--scopes', 'admin', '--expires-in', 'soon'], { cwd });
    expect(badExpiry.status).toBe(2);
    expect(badExpiry.stderr).toMatch(/--expires-in takes a number and a unit/);
    expect(runCli(['keys', 'create', '--scopes', 'admin'], { cwd }).status).toBe(2);
    const unknown = runCli(['keys', 'revoke', 'zzzzzzzzzzzz'], { cwd });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('harken: no API key with id zzzzzzzzzzzz (see harken keys list)\n');
  });

  it('creates an admin from a piped password (never a flag) who can then log in', async () => {
    const cwd = tempDir();
    const short = runCli(['admin', 'create', 'root'], { cwd, input: 'short\n' });
    expect(short.status).toBe(2);
    expect(short.stderr).toBe('harken: a password needs at least 12 characters\n');
    const created = runCli(['admin', 'create', 'Root', '--json'], { cwd, input: `${PASSWORD}\n` });
    expect(created.status).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ username: 'root' });
    expect(runCli(['admin', 'create', 'root'], { cwd, input: `${PASSWORD}\n` }).stderr).toBe('harken: an admin named "root" already exists\n');
    expect(JSON.parse(runCli(['admin', 'list', '--json'], { cwd }).stdout).admins).toHaveLength(1);

    const server = await startCliServer({ cwd });
    try {
      // An admin exists: no setup code is offered.
      expect(server.stderr()).not.toMatch(/setup code/);
      const login = await fetch(`${server.url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: PASSWORD }) });
      expect(login.status).toBe(200);
      const cookie = String(login.headers.get('set-cookie')).split(';')[0] as string;
      expect((await fetch(`${server.url}/v1/auth/me`, { headers: { cookie } })).status).toBe(200);
      // Log out everywhere from the terminal: the running server refuses the cookie at once.
      const logout = runCli(['admin', 'logout', 'root', '--json'], { cwd });
      expect(JSON.parse(logout.stdout)).toEqual({ username: 'root', sessionsEnded: 1 });
      expect((await fetch(`${server.url}/v1/auth/me`, { headers: { cookie } })).status).toBe(401);
      const lastAdmin = runCli(['admin', 'disable', 'root'], { cwd });
      expect(lastAdmin.status).toBe(1);
      expect(lastAdmin.stderr).toBe('harken: the last enabled admin cannot be disabled\n');
      const tenantKey = JSON.parse(runCli(['keys', 'create', '--name', 'acme', '--scopes', 'conversations', '--tenant', 'acme', '--daily-limit', '5', '--json'], { cwd }).stdout);
      expect(tenantKey).toMatchObject({ tenant: 'acme', dailyLimit: 5 });
      expect(runCli(['keys', 'create', '--name', 'x', '--scopes', 'conversations', '--tenant', 'Bad Name'], { cwd }).status).toBe(2);
    } finally {
      await server.stop();
    }
    expect(server.stdout()).not.toContain(PASSWORD);
  }, 60_000);

  it('offers a one-time setup code on the terminal of a first start, never in the log', async () => {
    const cwd = tempDir();
    const server = await startCliServer({ cwd });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const code = /"setupCode":"([A-Z2-9-]+)"/.exec(server.stderr())?.[1];
      expect(server.stderr()).toMatch(/No admin yet\. Open http:\/\/127\.0\.0\.1:\d+\/ and choose "First run" with the setup code [A-Z2-9-]+, or run `harken admin create <username>`, or:/);
      expect(code).toMatch(/^[A-Z2-9]{5}(-[A-Z2-9]{5}){3}$/);
      const setup = await fetch(`${server.url}/v1/auth/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ setupCode: code, username: 'admin', password: PASSWORD }),
      });
      expect(setup.status).toBe(201);
      expect(server.stdout()).not.toContain(code as string);
    } finally {
      await server.stop();
    }
  });

  it('manages service accounts: create, list, rotate, disable', () => {
    const cwd = tempDir();
    const created = JSON.parse(runCli(['service-accounts', 'create', 'porch', '--permissions', 'satellite.stream,satellite.heartbeat', '--json'], { cwd }).stdout) as { id: string; secret: string };
    expect(created.secret).toMatch(new RegExp(`^hksa_${created.id}_`));
    expect(runCli(['service-accounts', 'create', 'porch', '--permissions', 'realtime'], { cwd }).status).toBe(2);
    const rotated = JSON.parse(runCli(['service-accounts', 'rotate', created.id, '--json'], { cwd }).stdout) as { secret: string; rotatedAt: string };
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.rotatedAt).not.toBeNull();
    expect(runCli(['service-accounts', 'disable', created.id], { cwd }).stdout).toBe('disabled porch\n');
    expect(runCli(['service-accounts', 'list'], { cwd }).stdout).toMatch(new RegExp(`^${created.id}  disabled  porch  \\[satellite.stream,satellite.heartbeat\\]\\n$`));
    expect(runCli(['service-accounts', 'rotate', 'zzzzzzzzzzzz'], { cwd }).status).toBe(1);
  });

  it('generates secrets into 0600 files, keeps or rotates them, never printing a value', () => {
    const cwd = tempDir();
    const file = join(cwd, 'data', 'secrets', 'token-signing.key');
    const first = runCli(['secrets', 'generate', '--json'], { cwd });
    expect(JSON.parse(first.stdout)).toEqual({ secrets: [{ name: 'token-signing-key', file, status: 'created', overriddenBySetting: false }] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const value = readFileSync(file, 'utf8').trim();
    expect(runCli(['secrets', 'generate'], { cwd }).stdout).toBe(`token signing key: kept ${file} (mode 0600)\n`);
    expect(readFileSync(file, 'utf8').trim()).toBe(value);
    const rotated = runCli(['secrets', 'generate', '--rotate'], { cwd });
    expect(rotated.stdout).toBe(`token signing key: rotated ${file} (mode 0600)\n`);
    expect(readFileSync(file, 'utf8').trim()).not.toBe(value);
    expect(rotated.stdout + first.stdout).not.toContain(value);
  });
});
