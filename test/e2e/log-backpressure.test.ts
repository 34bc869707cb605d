import { describe, expect, it } from 'vitest';
import { startCliServer } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('request logs and a log reader that stops reading', () => {
  const tempDir = useTempDirs();

  it('keeps answering while nobody reads its stdout, and writes every line once the reader is back', async () => {
    const server = await startCliServer({ cwd: tempDir(), env: { HARKEN_VOICE_ENABLED: 'false', HARKEN_RATE_LIMIT_ENABLED: 'false' } });
    try {
      server.pauseStdout();
      // Unauthenticated calls (answered 401, one info line each; /health logs nothing). ~250 bytes of log per request: 2,000 requests are several times what the pipe and the
      // reader's buffer hold (~80 KB), so a blocking write would freeze the server part way.
      const requests = 2_000;
      const started = performance.now();
      for (let sent = 0; sent < requests; sent += 50) {
        const answers = await Promise.all(
          Array.from({ length: 50 }, (_, index) => fetch(`${server.url}/v1/agents`, { headers: { 'x-request-id': `backpressure-${sent + index}` }, signal: AbortSignal.timeout(5_000) })),
        );
        expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(401));
      }
      expect(performance.now() - started).toBeLessThan(30_000);

      server.resumeStdout();
      const last = `"reqId":"backpressure-${requests - 1}"`;
      await expect.poll(() => server.stdout().includes(last), { timeout: 10_000 }).toBe(true);
      const logged = server.stdout().split('\n').filter((line) => line.includes('"reqId":"backpressure-'));
      expect(new Set(logged.map((line) => JSON.parse(line).reqId)).size).toBe(requests);
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);
});
