import { describe, expect, it } from 'vitest';
import { runCli, startCliServer, type RunningServer } from '../helpers/cli.js';
import { startTestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

interface PastRun {
  readonly endReason: string;
  readonly endDetail: string | null;
}

interface HealthView {
  readonly ready: boolean;
  readonly warnings: Array<{ name: string; message: string }>;
  readonly memory: { state: string; thresholds: { warnMb: number; criticalMb: number; source: string } };
  readonly restarts: { lastHour: number; previous: PastRun | null; recent: PastRun[] };
  readonly security: Record<string, number>;
}

const exitOf = (server: RunningServer): Promise<number | null> =>
  server.process.exitCode !== null ? Promise.resolve(server.process.exitCode) : new Promise((resolve) => server.process.once('exit', (code) => resolve(code)));

describe('restart tracking and the memory watch, on a real process', () => {
  const tempDir = useTempDirs();

  it('records how each run ended (killed, signal, memory), flags a restart loop, and exits for a restart over the critical memory level', async () => {
    const cwd = tempDir();
    const created = runCli(['keys', 'create', '--name', 'ops', '--scopes', 'admin,metrics', '--json'], { cwd });
    expect(created.status).toBe(0);
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const get = async (server: RunningServer, path: string) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    const health = async (server: RunningServer) => (await (await get(server, '/v1/admin/health')).json()) as HealthView;
    const env = { HARKEN_MONITOR_RESTART_ALERT_PER_HOUR: '3' };

    const first = await startCliServer({ cwd, env });
    expect((await health(first)).restarts).toMatchObject({ lastHour: 0, previous: null });
    first.process.kill('SIGKILL');
    await exitOf(first);

    const second = await startCliServer({ cwd, env });
    expect((await health(second)).restarts.previous).toMatchObject({ endReason: 'unknown' });
    expect(second.stdout()).toContain('the previous run ended by vanishing without a shutdown');
    expect(await second.stop('SIGTERM')).toBe(0);

    // Far over any real level: the first sample is critical, so the server drains and exits 1 by itself.
    const third = await startCliServer({ cwd, env: { ...env, HARKEN_MONITOR_MEMORY_WARN_MB: '1', HARKEN_MONITOR_MEMORY_CRITICAL_MB: '2' } });
    expect(await exitOf(third)).toBe(1);
    expect(third.stdout()).toContain('memory above the critical level');

    const fourth = await startCliServer({ cwd, env: { ...env, HARKEN_MONITOR_MEMORY_WARN_MB: '1', HARKEN_MONITOR_MEMORY_CRITICAL_MB: '100000' } });
    const view = await health(fourth);
    expect(view.restarts.previous).toMatchObject({ endReason: 'memory', endDetail: expect.stringMatching(/^RSS \d+(\.\d)? MB ≥ 2 MB$/) });
    expect(view.restarts.recent.map((run) => run.endReason)).toEqual(['memory', 'shutdown', 'unknown']);
    expect(view.restarts.recent[1]).toMatchObject({ endDetail: 'SIGTERM' });
    expect(view.restarts.lastHour).toBe(3);
    // Memory over the warning level: traffic goes on, the operator is told.
    expect(view.memory).toMatchObject({ state: 'warn', thresholds: { warnMb: 1, criticalMb: 100000, source: 'config' } });
    const ready = await fetch(`${fourth.url}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as HealthView).warnings.map((warning) => warning.name).sort()).toEqual(['memory']);

    // A fifth start within the hour is more than monitor.restartAlertPerHour (3): a warning, an audit event, a metric.
    expect(await fourth.stop('SIGTERM')).toBe(0);
    const fifth = await startCliServer({ cwd, env });
    try {
      const ready5 = (await (await fetch(`${fifth.url}/ready`)).json()) as HealthView;
      expect(ready5.warnings).toEqual([{ name: 'restarts', message: expect.stringContaining('4 starts in the last hour') }]);
      const audit = (await (await get(fifth, '/v1/admin/audit?action=server.restart_loop')).json()) as { events: Array<{ details: Record<string, unknown> }> };
      expect(audit.events.map((event) => event.details.restartsLastHour)).toEqual([4]);
      const metrics = await (await get(fifth, '/metrics')).text();
      expect(metrics).toMatch(/^harken_restarts_last_hour 4$/m);
      expect(metrics).toMatch(/^harken_previous_run_end\{reason="shutdown"\} 1$/m);
      expect(fifth.stdout()).toContain('restart loop');
      const resources = (await (await get(fifth, '/v1/admin/resources')).json()) as {
        history: Array<{ rssMb: number; helpersRssMb: number; totalRssMb: number }>;
        thresholds: { warnMb: number; criticalMb: number; source: string };
      };
      expect(resources.history.length).toBeGreaterThanOrEqual(1);
      const sample = resources.history[0]!;
      expect(sample.rssMb).toBeGreaterThan(20);
      // The PocketSphinx decoder the server keeps loaded lives in a process of its own (~100 MB): counted too.
      expect(sample.helpersRssMb).toBeGreaterThan(50);
      expect(sample.totalRssMb).toBeCloseTo(sample.rssMb + sample.helpersRssMb, 0);
      // The Health page's process view reads the same run history.
      const processView = (await (await get(fifth, '/v1/admin/process')).json()) as { starts: { last7Days: number; recent: string[]; previousEnd: { reason: string; detail: string | null } | null } };
      expect(processView.starts.last7Days).toBe(5);
      expect(processView.starts.recent).toHaveLength(5);
      expect(processView.starts.previousEnd).toEqual({ reason: 'shutdown', detail: 'SIGTERM' });
      // Sized from the started process: its RSS plus the measured growth, at least 1 GiB.
      expect(resources.thresholds.source).toMatch(/measured|cgroup/);
      expect(resources.thresholds.criticalMb).toBeGreaterThan(resources.thresholds.warnMb);
    } finally {
      expect(await fifth.stop('SIGTERM')).toBe(0);
    }
  }, 120_000);
});

describe('GET /v1/admin/health security counters', () => {
  const tempDir = useTempDirs();

  it('counts refused credentials, wrong scopes and limit refusals of the last minutes', async () => {
    const server = await startTestServer(tempDir(), { HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '100000' });
    try {
      const limited = await server.createKey(['conversations'], { rateLimit: 1 });
      for (const authorization of ['Bearer hk_nope_nope', 'Bearer garbage', 'Basic x']) {
        expect((await server.harken.app.inject({ method: 'GET', url: '/v1/conversations', headers: { authorization } })).statusCode).toBe(401);
      }
      expect((await server.harken.app.inject({ method: 'GET', url: '/v1/admin/audit', headers: { authorization: `Bearer ${limited}` } })).statusCode).toBe(403);
      const statuses = [];
      for (let index = 0; index < 3; index += 1) statuses.push((await server.harken.app.inject({ method: 'GET', url: '/v1/conversations', headers: { authorization: `Bearer ${limited}` } })).statusCode);
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(1);
      const view = (await server.inject({ method: 'GET', url: '/v1/admin/health' })).json() as HealthView;
      expect(view.security).toMatchObject({ windowMinutes: 15, authFailures: 3, forbidden: 1 });
      expect(view.security.limitRefusals).toBe(statuses.filter((status) => status === 429).length);
      expect(view.ready).toBe(true);
    } finally {
      await server.harken.close();
    }
  }, 30_000);
});
