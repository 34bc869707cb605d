import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { runCli, runCliAsync, startCliServer, type RunningServer } from '../helpers/cli.js';
import { voiceTestEnv } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** Writes zeros until the volume refuses (ENOSPC); returns the file, which frees the space when removed. */
const fillVolume = (dir: string): string => {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return file;
};

describe('a full data volume (a small tmpfs this test mounts)', () => {
  const tempDir = useTempDirs();
  const mounts: string[] = [];
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop('SIGKILL')));
    for (const mount of mounts.splice(0)) execFileSync('umount', [mount]);
  });

  it('keeps reads working, answers writes 507 storage_full, says why on /ready, and recovers when space returns', async () => {
    const volume = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', volume]);
    mounts.push(volume);
    const cwd = join(volume, 'harken');
    mkdirSync(cwd);
    const env = { ...voiceTestEnv(), HARKEN_STORE_MIN_FREE_DISK_MB: '1' };
    const created = runCli(['keys', 'create', '--name', 'disk', '--scopes', 'conversations,realtime,admin', '--json'], { cwd, env });
    expect(created.status).toBe(0);
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const server = await startCliServer({ cwd, env });
    servers.push(server);
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const conversation = (await (await call('POST', '/v1/conversations', {})).json()) as { id: string };
    expect((await call('POST', `/v1/conversations/${conversation.id}/messages`, { text: 'Maria Garcia' })).status).toBe(200);

    const filler = fillVolume(volume);
    // Reads go on: lists, one conversation, the audit log.
    expect((await call('GET', '/v1/conversations')).status).toBe(200);
    expect((await call('GET', `/v1/conversations/${conversation.id}`)).status).toBe(200);
    expect((await call('GET', '/v1/admin/audit?limit=5')).status).toBe(200);
    // Writes say what happened.
    for (const response of [await call('POST', '/v1/conversations', {}), await call('POST', `/v1/conversations/${conversation.id}/messages`, { text: 'July 4th 1990' })]) {
      expect(response.status).toBe(507);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('storage_full');
    }
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    const readyBody = (await ready.json()) as { checks: Array<{ name: string; ok: boolean; error?: string }> };
    expect(readyBody.checks.find((check) => check.name === 'storage')).toMatchObject({ ok: false, error: expect.stringMatching(/free on the data volume|cannot write/) });
    // A voice session cannot be saved: refused with a reason, try again later.
    const refused = await RealtimeClient.connect({ url: `${server.url.replace(/^http/, 'ws')}/v1/realtime`, sampleRate: 16_000, credentials: key, agent: 'echo' }).then(
      () => 'connected',
      (error: Error) => error.message,
    );
    expect(refused).toMatch(/\(1013 .*storage_full/);

    rmSync(filler);
    await expect.poll(async () => (await fetch(`${server.url}/ready`)).status, { timeout: 5_000 }).toBe(200);
    expect((await call('POST', `/v1/conversations/${conversation.id}/messages`, { text: 'July 4th 1990' })).status).toBe(200);
    const stored = (await (await call('GET', `/v1/conversations/${conversation.id}`)).json()) as { messages: Array<{ role: string; text: string }> };
    // Every accepted turn is there; the refused one is not half-stored.
    expect(stored.messages.filter((message) => message.role === 'user').map((message) => message.text)).toEqual(['Maria Garcia', 'July 4th 1990']);
    const log = server.stdout();
    expect(log).not.toContain('cannot rollback');
    expect(log).toContain('write refused: the data volume is full');
    // Once per outage, not once a second.
    expect(log.split('usage counters could not be stored').length - 1).toBeLessThanOrEqual(1);
    expect(await server.stop('SIGTERM')).toBe(0);
    servers.splice(0);

    // A start on a volume with no space left at all says so in one line, and exits 1.
    const again = fillVolume(volume);
    const start = await runCliAsync(['serve', '--port', '0'], { cwd, env });
    expect(start.status).toBe(1);
    expect(start.stderr.trim()).toMatch(/^harken: cannot open database .*harken\.db: its volume is full \(0\.\d\d MB free\).*free space in .* and start again$/);
    rmSync(again);
  }, 90_000);
});
