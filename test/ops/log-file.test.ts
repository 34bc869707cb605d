import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCliServer } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('log.file', () => {
  const tempDir = useTempDirs();

  it('writes JSON lines to the file instead of stdout, rolls it by size, keeps log.fileKeep old ones, and loses nothing at shutdown', async () => {
    const cwd = tempDir();
    const logs = join(cwd, 'logs');
    const server = await startCliServer({ cwd, env: { HARKEN_LOG_FILE: join(logs, 'harken.log'), HARKEN_LOG_FILE_MAX_SIZE_MB: '0.02', HARKEN_LOG_FILE_KEEP: '2', HARKEN_LOG_FILE_FREQUENCY: 'none' } });
    // Each refused request is a log line of a few hundred bytes: well over 20 KB in all.
    for (let index = 0; index < 300; index += 1) await fetch(`${server.url}/v1/conversations`, { headers: { authorization: `Bearer hk_nope${index}_nope` } });
    expect(await server.stop('SIGTERM')).toBe(0);

    const files = readdirSync(logs).filter((name) => /^harken\.\d+\.log$/.test(name)).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
    // The current file and at most two before it; the oldest were removed as new ones began.
    expect(files.length).toBe(3);
    expect(Number(files[0]!.split('.')[1])).toBeGreaterThan(1);
    for (const file of files.slice(0, -1)) expect(statSync(join(logs, file)).size).toBeLessThan(20 * 1024 + 2_048);
    for (const file of files) expect(statSync(join(logs, file)).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(logs, 'current.log')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(logs, 'current.log'))).toBe(files.at(-1));
    const lines = files.flatMap((file) => readFileSync(join(logs, file), 'utf8').trim().split('\n'));
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    // The last words of the run are in the file; stdout has none of the log.
    expect(JSON.parse(lines.at(-1)!).msg).toBe('shutdown complete');
    expect(server.stdout()).toBe('');
    // No credential reached the file.
    expect(lines.join('\n')).not.toMatch(/hk_nope\d+_nope/);
  }, 60_000);
});
