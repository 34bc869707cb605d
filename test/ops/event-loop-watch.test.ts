import { describe, expect, it } from 'vitest';
import { startListeningServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('event-loop stall watchdog', () => {
  const tempDir = useTempDirs();

  it('logs a stall over monitor.eventLoopStallMs with the requests in flight, and counts it; releases finished requests', async () => {
    const server = await startListeningServer(tempDir(), { HARKEN_MONITOR_EVENT_LOOP_STALL_MS: '200' });
    try {
      // A request that stays in flight: the admin event feed.
      const feed = new AbortController();
      const events = await fetch(`${server.url}/v1/admin/events`, { headers: { authorization: `Bearer ${server.apiKey}` }, signal: feed.signal });
      expect(events.status).toBe(200);
      await fetch(`${server.url}/v1/agents`, { headers: { authorization: `Bearer ${server.apiKey}` } });
      const stalls = () => server.logs.lines.map((line) => JSON.parse(line) as { msg: string; eventLoopStall?: { stallMs: number; inFlight: string[]; sessions: number } }).filter((line) => line.msg === 'the event loop stalled: audio and requests waited');
      const before = stalls().length;
      // This process is the server's: hold its loop for 600 ms.
      const until = performance.now() + 600;
      while (performance.now() < until) {
        // busy
      }
      await expect.poll(() => stalls().length, { timeout: 3_000 }).toBe(before + 1);
      const stall = stalls().at(-1)!.eventLoopStall!;
      expect(stall.stallMs).toBeGreaterThanOrEqual(550);
      // The feed was in flight; the finished request was not.
      expect(stall.inFlight).toEqual(['GET /v1/admin/events']);
      expect(stall.sessions).toBe(0);
      feed.abort();
      const metrics = await server.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${await server.createKey(['metrics'])}` } });
      expect(metrics.body).toMatch(new RegExp(`^harken_event_loop_stall_seconds_count ${before + 1}$`, 'm'));
    } finally {
      await server.harken.close();
    }
  }, 30_000);
});
