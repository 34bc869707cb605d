import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { HARKEN_BIN, runCli, runCliAsync, startCliServer, type RunningServer } from '../helpers/cli.js';
import { voiceTestEnv } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { freePort } from '../helpers/ports.js';

interface Check {
  readonly name: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly message: string;
  readonly fix?: string;
}


const checksOf = (stdout: string): Check[] => (JSON.parse(stdout) as { checks: Check[] }).checks;
const find = (checks: Check[], name: string): Check | undefined => checks.find((check) => check.name === name);

/** A TCP listener in another process (a stand-in for whatever else holds the port). */
const listenElsewhere = async (port: number, netns?: string): Promise<ChildProcess> => {
  const script = `require('net').createServer((s) => s.end('hi')).listen(${port}, '0.0.0.0', () => console.log('up'))`;
  const child = netns ? spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script]) : spawn(process.execPath, ['-e', script]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`listener exited ${code}`)));
  });
  return child;
};

describe('harken doctor', () => {
  const tempDir = useTempDirs();
  const children: ChildProcess[] = [];
  const servers: RunningServer[] = [];
  const namespaces: string[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await Promise.all(servers.splice(0).map((server) => server.stop('SIGTERM')));
    for (const netns of namespaces.splice(0)) spawnSync('ip', ['netns', 'del', netns]);
  });

  it('names the process on the port from /proc, and knows Harken itself serving this data directory', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const free = await runCliAsync(['doctor', '--port', String(port), '--no-engines', '--json'], { cwd });
    expect(find(checksOf(free.stdout), 'port')).toMatchObject({ status: 'ok', message: `port ${port} is free` });

    const other = await listenElsewhere(port);
    children.push(other);
    const taken = await runCliAsync(['doctor', '--port', String(port), '--no-engines'], { cwd });
    expect(taken.status).toBe(1);
    expect(taken.stdout).toContain(`FAIL port: port ${port} is in use by node (pid ${other.pid}: ${process.execPath} -e require('net')`);
    expect(taken.stdout).toContain(`fix: stop that process (kill ${other.pid}) or choose another port`);

    const server = await startCliServer({ cwd });
    servers.push(server);
    const ownPort = Number(new URL(server.url).port);
    const own = await runCliAsync(['doctor', '--port', String(ownPort), '--no-engines', '--json'], { cwd });
    const check = find(checksOf(own.stdout), 'port')!;
    expect(check.status).toBe('warn');
    expect(check.message).toMatch(new RegExp(`^port ${ownPort} is in use by Harken itself: node \\(pid ${server.process.pid}: .*harken\\.js serve.*\\), serving this data directory$`));
  }, 60_000);

  it('finds an nftables chain that drops the port inside a network namespace, prints the command, and --apply opens it', async () => {
    const netns = `hk-doctor-${process.pid}`;
    execFileSync('ip', ['netns', 'add', netns]);
    namespaces.push(netns);
    const inNs = (command: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', netns, command, ...args], { encoding: 'utf8' });
    inNs('ip', 'link', 'set', 'lo', 'up');
    // A usual host firewall: replies to its own connections, ssh, and nothing else.
    inNs('nft', 'add table inet filter; add chain inet filter input { type filter hook input priority 0; policy drop; }; add rule inet filter input ct state established,related accept; add rule inet filter input tcp dport 22 accept');
    const listener = await listenElsewhere(8080, netns);
    children.push(listener);
    // Whether a connection gets through the namespace's firewall (over its loopback, which the input hook also filters).
    const connects = () =>
      spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', "const s = require('net').connect(8080, '127.0.0.1'); s.setTimeout(1000, () => process.exit(3)); s.on('data', () => process.exit(0)); s.on('error', () => process.exit(4))"]).status;
    expect(connects()).toBe(3);

    const cwd = tempDir();
    const doctor = (...extra: string[]) =>
      spawnSync('ip', ['netns', 'exec', netns, process.execPath, HARKEN_BIN, 'doctor', '--port', '8080', '--no-engines', '--json', ...extra], { cwd, encoding: 'utf8', env: { ...process.env, HARKEN_SERVER_HOST: '0.0.0.0', HARKEN_DATA_DIR: join(cwd, 'data') } });
    const blocked = doctor();
    expect(blocked.status).toBe(1);
    expect(find(checksOf(blocked.stdout), 'firewall')).toEqual({ name: 'firewall', status: 'fail', message: 'chain inet filter input drops tcp port 8080', fix: 'nft insert rule inet filter input tcp dport 8080 accept' });

    const applied = doctor('--apply');
    expect(find(checksOf(applied.stdout), 'firewall')).toMatchObject({ status: 'ok', message: 'opened tcp port 8080: nft insert rule inet filter input tcp dport 8080 accept' });
    expect(inNs('nft', 'list', 'chain', 'inet', 'filter', 'input')).toMatch(/tcp dport 8080 accept/);
    expect(connects()).toBe(0);
    expect(find(checksOf(doctor().stdout), 'firewall')).toMatchObject({ status: 'ok', message: 'every nftables input chain accepts tcp port 8080' });
  }, 60_000);

  it('reports file modes, pending migrations, a damaged database, development mode on an open address and the engines, each with a fix', async () => {
    const cwd = tempDir();
    const env = { ...voiceTestEnv(), HARKEN_SERVER_HOST: '0.0.0.0' };
    expect(runCli(['migrate'], { cwd, env }).status).toBe(0);
    expect(runCli(['secrets', 'generate'], { cwd, env }).status).toBe(0);
    chmodSync(join(cwd, 'data'), 0o755);
    chmodSync(join(cwd, 'data', 'secrets', 'token-signing.key'), 0o644);
    const db = new SqliteDatabase(join(cwd, 'data', 'harken.db'));
    db.prepare("DELETE FROM harken_migrations WHERE name = '0006_server_runs'").run();
    db.close();

    const result = await runCliAsync(['doctor', '--port', String(await freePort()), '--json'], { cwd, env });
    expect(result.status).toBe(1);
    const checks = checksOf(result.stdout);
    expect(find(checks, 'data directory')).toMatchObject({ status: 'warn', fix: `chmod 700 ${join(cwd, 'data')}` });
    expect(checks.find((check) => check.name === 'file modes' && check.status === 'fail')).toMatchObject({ fix: `chmod 600 ${join(cwd, 'data', 'secrets', 'token-signing.key')}` });
    expect(find(checks, 'migrations')).toMatchObject({ status: 'warn', message: '1 migration(s) pending (0006_server_runs); the next start applies them' });
    expect(find(checks, 'database')).toMatchObject({ status: 'ok' });
    expect(find(checks, 'speech engines')).toMatchObject({ status: 'ok', message: expect.stringMatching(/^loaded: silero, pocketsphinx.*, flite/) });
    expect(find(checks, 'production')).toMatchObject({ status: 'warn', fix: 'HARKEN_SERVER_ENVIRONMENT=production (behind HTTPS)' });
    expect(find(checks, 'api docs')).toMatchObject({ status: 'warn' });
    expect(find(checks, 'disk space')).toMatchObject({ status: 'ok' });

    // A damaged file: pages overwritten in the middle.
    const damagedDir = tempDir();
    mkdirSync(join(damagedDir, 'data'));
    const damaged = new SqliteDatabase(join(damagedDir, 'data', 'harken.db'));
    damaged.exec('CREATE TABLE t (x TEXT); CREATE INDEX t_x ON t (x);');
    const insert = damaged.prepare('INSERT INTO t VALUES (?)');
    for (let index = 0; index < 2_000; index += 1) insert.run(`row ${index} ${'x'.repeat(50)}`);
    damaged.close();
    const fd = openSync(join(damagedDir, 'data', 'harken.db'), 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, 8192);
    closeSync(fd);
    const broken = await runCliAsync(['doctor', '--port', String(await freePort()), '--no-engines', '--json'], { cwd: damagedDir });
    expect(find(checksOf(broken.stdout), 'database')).toMatchObject({ status: 'fail', fix: 'restore the latest backup: harken restore FILE --force' });

    // A missing model: the engines check fails with the command that fixes it.
    const missing = await runCliAsync(['doctor', '--port', String(await freePort()), '--json'], { cwd: tempDir(), env: { HARKEN_VAD_MODEL: '/nonexistent/silero.onnx' } });
    expect(missing.status).toBe(1);
    expect(find(checksOf(missing.stdout), 'speech engines')).toMatchObject({ status: 'fail', fix: expect.any(String) });
  }, 90_000);

  it('checks the TLS pair: readable, key private, not expiring soon', async () => {
    const cwd = tempDir();
    const certificate = (days: number, name: string) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(cwd, `${name}.key`), '-out', join(cwd, `${name}.pem`), '-days', String(days), '-subj', `/CN=${name}`], { stdio: 'ignore' });
      chmodSync(join(cwd, `${name}.key`), 0o600);
      return { HARKEN_SERVER_TLS_CERT_FILE: join(cwd, `${name}.pem`), HARKEN_SERVER_TLS_KEY_FILE: join(cwd, `${name}.key`) };
    };
    const tls = async (env: Record<string, string>) => find(checksOf((await runCliAsync(['doctor', '--port', String(await freePort()), '--no-engines', '--json'], { cwd, env })).stdout), 'tls');
    expect(await tls({})).toMatchObject({ status: 'ok', message: expect.stringContaining('plain HTTP') });
    expect(await tls(certificate(365, 'good'))).toMatchObject({ status: 'ok', message: expect.stringMatching(/CN=good, valid for 36\d more days/) });
    expect(await tls(certificate(3, 'soon'))).toMatchObject({ status: 'warn', message: expect.stringMatching(/expires in [23] days/) });
    const open = certificate(365, 'open');
    chmodSync(open.HARKEN_SERVER_TLS_KEY_FILE, 0o644);
    expect(await tls(open)).toMatchObject({ status: 'warn', fix: `chmod 600 ${open.HARKEN_SERVER_TLS_KEY_FILE}` });
    expect(await tls({ HARKEN_SERVER_TLS_CERT_FILE: join(cwd, 'good.pem') })).toMatchObject({ status: 'fail', message: expect.stringContaining('server.tlsKeyFile') });
  }, 60_000);

  it('an invalid setting is one FAIL line, exit 1', async () => {
    const result = await runCliAsync(['doctor', '--no-engines'], { cwd: tempDir(), env: { HARKEN_SERVER_PORT: 'eighty' } });
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/^FAIL config: invalid configuration: .*server\.port.*\n {5}fix: /);
  });
});
