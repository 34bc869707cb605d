import { createServer } from 'node:net';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrations } from '../../src/store/migrations.js';
import { runCli, startCliServer } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('harken CLI', () => {
  const tempDir = useTempDirs();

  it('serve works with zero configuration: creates the data directory and database, prints the URL', async () => {
    const cwd = tempDir();
    const server = await startCliServer({ cwd });
    try {
      for (let wait = 0; wait < 50 && !server.stderr().includes('setup code'); wait += 1) await new Promise((resolve) => setTimeout(resolve, 20));
      // The URL, then (no admin yet) the one-time way to create the first admin.
      expect(server.stderr()).toMatch(
        /^Harken \d+\.\d+\.\d+ listening on http:\/\/127\.0\.0\.1:\d+ — web app at http:\/\/127\.0\.0\.1:\d+\/ — API docs at .*\/docs — data in .*\/data\nNo admin yet\. Open http:\/\/127\.0\.0\.1:\d+\/ and choose "First run" with the setup code [A-Z2-9-]+, or run `harken admin create <username>`, or:\n {2}curl -X POST http:\/\/127\.0\.0\.1:\d+\/v1\/auth\/setup .*\n$/,
      );
      expect(statSync(join(cwd, 'data')).mode & 0o777).toBe(0o700);
      // Its own secrets, owner-only.
      expect(statSync(join(cwd, 'data', 'secrets', 'token-signing.key')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(cwd, 'data', 'harken.db'))).toBe(true);
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(200);
      // Not a terminal, so logs are JSON lines on stdout.
      const lines = server.stdout().trim().split('\n');
      expect(lines.every((line) => JSON.parse(line).service === 'harken')).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('refuses an invalid setting with one clear line and exit code 2', () => {
    const result = runCli(['serve'], { cwd: tempDir(), env: { HARKEN_SERVER_PORT: '99999' } });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('harken: invalid configuration:\n  - server.port (HARKEN_SERVER_PORT="99999"): must be <= 65535\n');
  });

  it('names a broken flow file and exits 2', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'bad.yaml'), 'id: bad\ntitle: Bad\nsteps: []\nendings: {}\n');
    const result = runCli(['serve'], { cwd, env: { HARKEN_AGENTS_FLOWS_DIR: cwd } });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^harken: invalid dialogue flow .*bad\.yaml:\n  - steps: /);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports a port in use in one line, exit code 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = runCli(['serve', '--port', String(port)], { cwd: tempDir() });
      expect(result.status).toBe(1);
      expect(result.stderr).toBe(`harken: port ${port} on 127.0.0.1 is already in use; stop the other process or choose another port with --port or HARKEN_SERVER_PORT\n`);
    } finally {
      blocker.close();
    }
  });

  it('reports a missing downloaded model in one line with the command that gets it, exit code 1', () => {
    const cwd = tempDir();
    const result = runCli(['serve'], { cwd, env: { HARKEN_STT_ENGINE: 'sherpa' } });
    expect(result.status).toBe(1);
    const modelDir = join(cwd, 'data', 'models', 'sherpa-onnx-streaming-zipformer-en-20M-2023-02-17');
    expect(result.stderr).toMatch(new RegExp(`^harken: STT model folder ${modelDir.replace(/[.]/g, '\\.')} does not exist; run \`harken models pull sherpa-onnx-streaming-zipformer-en-20M-2023-02-17\`.*\n$`));
  });

  it('reports an unwritable data directory in one line, exit code 1', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'file'), 'not a directory');
    const result = runCli(['serve'], { cwd, env: { HARKEN_DATA_DIR: join(cwd, 'file', 'data') } });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^harken: cannot open database .*file\/data\/harken\.db: .+\n$/);
  });

  it('migrate creates the schema once and reports it, as text or JSON', () => {
    const cwd = tempDir();
    const first = runCli(['migrate', '--json'], { cwd });
    expect(first.status).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report.applied).toEqual(Object.keys(migrations));
    expect(report.applied[0]).toBe('0001_conversations_messages_audit');
    expect(report.database).toBe(join(cwd, 'data', 'harken.db'));
    const second = runCli(['migrate'], { cwd });
    expect(second.status).toBe(0);
    expect(second.stdout).toContain(`is up to date (${Object.keys(migrations).at(-1)})`);
  });

  it('version and config print text or JSON', () => {
    const cwd = tempDir();
    const version = runCli(['version', '--json'], { cwd });
    expect(version.status).toBe(0);
    expect(JSON.parse(version.stdout)).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), node: process.version });
    const config = runCli(['config', '--json'], { cwd, env: { HARKEN_SERVER_PORT: '9999' } });
    expect(config.status).toBe(0);
    expect(JSON.parse(config.stdout).server.port).toBe(9999);
    expect(runCli(['config'], { cwd }).stdout).toMatch(/^server:\n {2}host: 127\.0\.0\.1/);
    const withKey = runCli(['config', '--json'], { cwd, env: { HARKEN_STT_OPENAI_API_KEY: 'sk-very-secret' } });
    expect(withKey.stdout).not.toContain('sk-very-secret');
    expect(JSON.parse(withKey.stdout).stt.openaiApiKey).toBe('[set]');
  });

  it('exits 2 on misuse: unknown command, unknown flag, missing value', () => {
    const cwd = tempDir();
    for (const args of [['fly'], ['serve', '--frobnicate'], ['serve', '--port']]) {
      const result = runCli(args, { cwd });
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/error/);
    }
    expect(runCli(['--help'], { cwd }).status).toBe(0);
  });
});
