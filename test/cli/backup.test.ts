import { statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCliAsync } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('harken backup and restore', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const start = async (dataDir: string) => {
    const server = await startTestServer(dataDir, { HARKEN_VOICE_ENABLED: 'false' });
    servers.push(server);
    return server;
  };

  it('copies the database while the server writes, and a restore into a fresh data dir reads the conversations back', async () => {
    const live = tempDir();
    const server = await start(live);
    const created = (await server.inject({ method: 'POST', url: '/v1/conversations', payload: { agent: 'echo' } })).json() as { id: string };
    await server.inject({ method: 'POST', url: `/v1/conversations/${created.id}/messages`, payload: { text: 'Ada Lovelace, 1815' } });
    // Writes go on during the backup.
    let writing = true;
    const writes = (async () => {
      let count = 0;
      while (writing) {
        await server.inject({ method: 'POST', url: `/v1/conversations/${created.id}/messages`, payload: { text: `still talking ${count}` } }).catch(() => undefined);
        count += 1;
        if (count >= 5) break;
      }
    })();
    const backupFile = join(tempDir(), 'nightly.db');
    const backup = await runCliAsync(['backup', '--out', backupFile, '--data-dir', live, '--with-secrets', '--json'], { cwd: live });
    writing = false;
    await writes;
    expect(backup.status, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ file: backupFile, secretFile: `${backupFile}.token-signing.key` });
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    expect(statSync(`${backupFile}.token-signing.key`).mode & 0o777).toBe(0o600);

    // A second backup to the same file is refused, not overwritten.
    const again = await runCliAsync(['backup', '--out', backupFile, '--data-dir', live], { cwd: live });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already exists; choose another --out/);

    const fresh = tempDir();
    const restore = await runCliAsync(['restore', backupFile, '--data-dir', fresh, '--with-secrets', '--json'], { cwd: fresh });
    expect(restore.status, restore.stderr).toBe(0);
    expect(readFileSync(join(fresh, 'secrets', 'token-signing.key'))).toEqual(readFileSync(join(live, 'secrets', 'token-signing.key')));
    const restored = await start(fresh);
    const conversation = (await restored.inject({ method: 'GET', url: `/v1/conversations/${created.id}` })).json() as { messages: Array<{ text: string }> };
    expect(conversation.messages.map((message) => message.text)).toContain('Ada Lovelace, 1815');

    // Not while a server uses the data directory.
    const underServer = await runCliAsync(['restore', backupFile, '--data-dir', fresh, '--force'], { cwd: fresh });
    expect(underServer.status).toBe(1);
    expect(underServer.stderr).toBe(`harken: a Harken server (pid ${process.pid}, started ${restored.harken.runs.current.startedAt}) is using ${fresh}; stop it first, then restore\n`);
    // Restoring over a database needs --force, and keeps the old one.
    await restored.harken.close();
    servers.splice(servers.indexOf(restored), 1);
    const over = await runCliAsync(['restore', backupFile, '--data-dir', fresh], { cwd: fresh });
    expect(over.status).toBe(1);
    expect(over.stderr).toMatch(/already exists; stop the server and pass --force/);
    expect((await runCliAsync(['restore', backupFile, '--data-dir', fresh, '--force'], { cwd: fresh })).status).toBe(0);
    expect(statSync(join(fresh, 'harken.db.before-restore')).size).toBeGreaterThan(0);
  }, 60_000);

  it('refuses a file that is not a Harken backup, and a data dir without a database', async () => {
    const dir = tempDir();
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, Buffer.alloc(4096, 1));
    const restore = await runCliAsync(['restore', junk, '--data-dir', join(dir, 'data')], { cwd: dir });
    expect(restore.status).toBe(1);
    expect(restore.stderr).toMatch(/^harken: the backup .*junk\.db is not a readable SQLite database/);
    const empty = await runCliAsync(['backup', '--data-dir', join(dir, 'nothing')], { cwd: dir });
    expect(empty.status).toBe(1);
    expect(empty.stderr).toMatch(/there is no database at .*; check data\.dir or store\.sqlitePath/);
  }, 30_000);
});
