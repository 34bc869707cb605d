/**
 * Access-layer benchmark, part of `npm run bench` (alone: `npm run bench:access`).
 * Three servers, each in its own child process, loaded in turn by autocannon from this one:
 *   - a bare Fastify server answering the same JSON as GET /v1/agents (the floor),
 *   - Harken's GET /health (no credentials: routing, logging, headers, per-address limits),
 *   - Harken's GET /v1/agents with an API key (authentication, scopes, tenant, rate limits,
 *     daily quota, usage recording — everything a real API call pays).
 *   - the same with request log lines off, to show what one JSON log line per request costs.
 * Runs are interleaved (bare, health, key, bare, …) so machine drift hits all alike; the table
 * reports medians over runs and each Harken figure as a ratio of the bare server's.
 * Where taskset exists and there are two cores, every server runs on core 0 and autocannon on
 * core 1, so a server never shares its core with the load it serves; the servers' CPU time per
 * request (all their threads, from /proc) is reported beside the rates, since the bare server
 * is limited by the client rather than by its own CPU.
 * Rate limits stay on, raised above what the bench drives: their cost is part of the measure.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const RUNS = Number(process.env.HARKEN_BENCH_RUNS ?? 3);
const CONNECTIONS = Number(process.env.HARKEN_BENCH_CONNECTIONS ?? 20);
const DURATION_S = Number(process.env.HARKEN_BENCH_ACCESS_SECONDS ?? 5);
const WARMUP_S = 2;

type Ready = { url: string; key?: string };
type ServerKind = 'bare' | 'harken' | 'harken-quiet';
type Target = { name: string; path: string; server: ServerKind; withKey: boolean };

const TARGETS: Target[] = [
  { name: 'Bare Fastify, same JSON as /v1/agents', path: '/v1/agents', server: 'bare', withKey: false },
  { name: 'Harken GET /health (no credentials)', path: '/health', server: 'harken', withKey: false },
  { name: 'Harken GET /v1/agents with an API key', path: '/v1/agents', server: 'harken', withKey: true },
  { name: 'Same, request log lines off (log.level warn)', path: '/v1/agents', server: 'harken-quiet', withKey: true },
];

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** Child: serve until the parent disconnects. */
const serve = async (kind: ServerKind): Promise<void> => {
  if (kind === 'bare') {
    process.on('disconnect', () => process.exit(0));
    const { default: Fastify } = await import('fastify');
    const app = Fastify({ logger: false });
    app.get('/v1/agents', async () => ({ agents: [{ name: 'echo', description: 'Repeats what you say.', default: true }] }));
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    process.send!({ url } satisfies Ready);
    return;
  }
  const { loadConfig } = await import('../src/config/load.js');
  const { createLogger } = await import('../src/logging/logger.js');
  const { createHarken } = await import('../src/runtime.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'harken-access-bench-'));
  process.on('disconnect', () => {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
  const config = loadConfig({
    env: {
      HARKEN_DATA_DIR: dataDir,
      HARKEN_RATE_LIMIT_REQUESTS: '100000000',
      HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '100000000',
      HARKEN_RATE_LIMIT_DAILY_REQUESTS: '1000000000',
    },
  });
  // Request logging at info, as a server runs by default (stdout is /dev/null); `quiet` isolates its cost.
  const harken = await createHarken(config, createLogger({ level: kind === 'harken-quiet' ? 'warn' : 'info', format: 'json' }));
  const { key } = await harken.access.keys.create({ name: 'access-bench', scopes: ['conversations'] });
  const url = await harken.app.listen({ host: '127.0.0.1', port: 0 });
  process.send!({ url, key } satisfies Ready);
};

/** Pins this process (the load) to core 1 and says whether servers can have core 0 to themselves. */
const pinCores = (): boolean => {
  if (availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const CLOCK_TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of a process, all its threads. */
const cpuSecondsOf = (pid: number): number => {
  // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
};

const startChild = (kind: ServerKind, pinned: boolean): Promise<{ child: ChildProcess; ready: Ready }> =>
  new Promise((resolve, reject) => {
    // tsx's own CLI wrapper talks to its children over IPC; load it as a plain loader instead.
    const loader = ['--import', 'tsx'];
    const child = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, HARKEN_BENCH_ACCESS_SERVER: kind },
      // taskset execs node in place: same pid, same IPC channel.
      ...(pinned ? { execPath: 'taskset', execArgv: ['-c', '0', process.execPath, ...loader] } : { execArgv: loader }),
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.once('message', (ready) => resolve({ child, ready: ready as Ready }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code}) before it was ready`)));
  });

type Load = { requestsPerSecond: number; cpuUsPerRequest: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number };

const drive = async (serverPid: number, url: string, key: string | undefined, seconds: number): Promise<Load> => {
  const cpuBefore = cpuSecondsOf(serverPid);
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const cpuUsPerRequest = ((cpuSecondsOf(serverPid) - cpuBefore) * 1e6) / Math.max(1, result.requests.total);
  return { requestsPerSecond: result.requests.average, cpuUsPerRequest, p50Ms: result.latency.p50, p99Ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
};

export const accessBenchmark = async (): Promise<string> => {
  const pinned = pinCores();
  const children = { bare: await startChild('bare', pinned), harken: await startChild('harken', pinned), 'harken-quiet': await startChild('harken-quiet', pinned) };
  const pidOf = (server: ServerKind): number => children[server].child.pid as number;
  const base = { bare: children.bare.ready, harken: children.harken.ready, 'harken-quiet': children['harken-quiet'].ready };
  const loads = new Map<string, Load[]>(TARGETS.map((target) => [target.name, []]));
  try {
    for (const target of TARGETS) await drive(pidOf(target.server), `${base[target.server].url}${target.path}`, target.withKey ? base[target.server].key : undefined, WARMUP_S);
    for (let run = 0; run < RUNS; run += 1) {
      for (const target of TARGETS) {
        const load = await drive(pidOf(target.server), `${base[target.server].url}${target.path}`, target.withKey ? base[target.server].key : undefined, DURATION_S);
        if (load.non2xx > 0 || load.errors > 0) throw new Error(`${target.name}: ${load.non2xx} non-2xx responses, ${load.errors} errors — the bench must measure successful requests`);
        loads.get(target.name)!.push(load);
        console.error(`  run ${run + 1}, ${target.name}: ${load.requestsPerSecond.toFixed(0)} req/s, ${load.cpuUsPerRequest.toFixed(0)} µs CPU/request, p50 ${load.p50Ms} ms`);
      }
    }
  } finally {
    // Disconnecting tells each server to exit; the kill is the backstop, so `npm run bench` always ends.
    for (const { child } of Object.values(children)) {
      child.disconnect();
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }
  }
  const bare = loads.get(TARGETS[0]!.name)!;
  const bareRps = median(bare.map((load) => load.requestsPerSecond));
  const bareCpu = median(bare.map((load) => load.cpuUsPerRequest));
  return [
    `## Access layer (${new Date().toISOString().slice(0, 10)}, ${RUNS} interleaved runs of ${DURATION_S} s, ${CONNECTIONS} connections, autocannon${pinned ? '; servers on core 0, load on core 1' : ''})`,
    '',
    '| Server | Requests/s (median) | Ratio to bare | Server CPU per request | Bare ÷ this, by CPU | Latency p50 | p99 |',
    '|---|---|---|---|---|---|---|',
    ...TARGETS.map((target) => {
      const runs = loads.get(target.name)!;
      const rps = median(runs.map((load) => load.requestsPerSecond));
      const cpu = median(runs.map((load) => load.cpuUsPerRequest));
      return `| ${target.name} | ${rps.toFixed(0)} | ${(rps / bareRps).toFixed(2)} | ${cpu.toFixed(0)} µs | ${(bareCpu / cpu).toFixed(2)} | ${median(runs.map((load) => load.p50Ms)).toFixed(0)} ms | ${median(runs.map((load) => load.p99Ms)).toFixed(0)} ms |`;
    }),
  ].join('\n');
};

const serverKind = process.env.HARKEN_BENCH_ACCESS_SERVER;
if (serverKind === 'bare' || serverKind === 'harken' || serverKind === 'harken-quiet') await serve(serverKind);
else if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await accessBenchmark());
