/**
 * Access-layer benchmark, part of `npm run bench` (alone: `npm run bench:access`).
 * Four servers, each in its own child process, loaded in turn by autocannon from this one:
 *   - a bare Fastify server answering the same JSON as GET /v1/agents (the floor),
 *   - the same with Fastify's default request logging (pino at info, two lines per request): what
 *     any server that logs its requests pays, for scale,
 *   - Harken's GET /health (no credentials: routing, logging, headers, per-address limits),
 *   - Harken's GET /v1/agents with an API key (authentication, scopes, tenant, rate limits,
 *     daily quota, usage recording — everything a real API call pays).
 *   - the same with request log lines off, to show what one JSON log line per request costs,
 *   - the key path of HARKEN_BENCH_BASELINE (a git revision, default HEAD~1; empty for none), the
 *     same server code run against that revision's sources, so a change shows as a ratio in one run.
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
import { baselineTree } from './baseline-tree.js';

const RUNS = Number(process.env.HARKEN_BENCH_RUNS ?? 3);
const CONNECTIONS = Number(process.env.HARKEN_BENCH_CONNECTIONS ?? 20);
const DURATION_S = Number(process.env.HARKEN_BENCH_ACCESS_SECONDS ?? 5);
const WARMUP_S = 2;

type Ready = { url: string; key?: string };
type ServerKind = 'bare' | 'bare-logged' | 'harken' | 'harken-quiet';
type Target = { name: string; path: string; server: ServerKind | 'baseline'; withKey: boolean };

const TARGETS: Target[] = [
  { name: 'Bare Fastify, same JSON as /v1/agents', path: '/v1/agents', server: 'bare', withKey: false },
  { name: 'Same, with Fastify’s default request logging (info)', path: '/v1/agents', server: 'bare-logged', withKey: false },
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
  if (kind === 'bare' || kind === 'bare-logged') {
    process.on('disconnect', () => process.exit(0));
    const { default: Fastify } = await import('fastify');
    // Logged: pino's JSON lines to stdout (/dev/null here), as Harken's go.
    const app = Fastify({ logger: kind === 'bare-logged' ? { level: 'info' } : false });
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

const startChild = (kind: ServerKind, pinned: boolean, benchFile = fileURLToPath(import.meta.url)): Promise<{ child: ChildProcess; ready: Ready }> =>
  new Promise((resolve, reject) => {
    // tsx's own CLI wrapper talks to its children over IPC; load it as a plain loader instead.
    const loader = ['--import', 'tsx'];
    const child = fork(benchFile, [], {
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
  const rev = process.env.HARKEN_BENCH_BASELINE ?? 'HEAD~1';
  const tree = rev ? baselineTree(rev, fileURLToPath(import.meta.url)) : undefined;
  const targets: Target[] = [...TARGETS, ...(tree ? [{ name: `${tree.label} (baseline): GET /v1/agents with an API key`, path: '/v1/agents', server: 'baseline' as const, withKey: true }] : [])];
  const children = {
    bare: await startChild('bare', pinned),
    'bare-logged': await startChild('bare-logged', pinned),
    harken: await startChild('harken', pinned),
    'harken-quiet': await startChild('harken-quiet', pinned),
    ...(tree ? { baseline: await startChild('harken', pinned, tree.benchFile) } : {}),
  };
  const childOf = (server: Target['server']) => {
    const started = children[server];
    if (!started) throw new Error(`no ${server} server`);
    return started;
  };
  const urlOf = (target: Target): string => `${childOf(target.server).ready.url}${target.path}`;
  const keyOf = (target: Target): string | undefined => (target.withKey ? childOf(target.server).ready.key : undefined);
  const loads = new Map<string, Load[]>(targets.map((target) => [target.name, []]));
  try {
    for (const target of targets) await drive(childOf(target.server).child.pid as number, urlOf(target), keyOf(target), WARMUP_S);
    for (let run = 0; run < RUNS; run += 1) {
      for (const target of targets) {
        const load = await drive(childOf(target.server).child.pid as number, urlOf(target), keyOf(target), DURATION_S);
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
    tree?.remove();
  }
  const bare = loads.get(TARGETS[0]!.name)!;
  const bareRps = median(bare.map((load) => load.requestsPerSecond));
  const bareCpu = median(bare.map((load) => load.cpuUsPerRequest));
  return [
    `## Access layer (${new Date().toISOString().slice(0, 10)}, ${RUNS} interleaved runs of ${DURATION_S} s, ${CONNECTIONS} connections, autocannon${pinned ? '; servers on core 0, load on core 1' : ''})`,
    '',
    '| Server | Requests/s (median) | Ratio to bare | Server CPU per request | Bare ÷ this, by CPU | Latency p50 | p99 |',
    '|---|---|---|---|---|---|---|',
    ...targets.map((target) => {
      const runs = loads.get(target.name)!;
      const rps = median(runs.map((load) => load.requestsPerSecond));
      const cpu = median(runs.map((load) => load.cpuUsPerRequest));
      return `| ${target.name} | ${rps.toFixed(0)} | ${(rps / bareRps).toFixed(2)} | ${cpu.toFixed(0)} µs | ${(bareCpu / cpu).toFixed(2)} | ${median(runs.map((load) => load.p50Ms)).toFixed(0)} ms | ${median(runs.map((load) => load.p99Ms)).toFixed(0)} ms |`;
    }),
  ].join('\n');
};

const serverKind = process.env.HARKEN_BENCH_ACCESS_SERVER;
if (serverKind === 'bare' || serverKind === 'bare-logged' || serverKind === 'harken' || serverKind === 'harken-quiet') await serve(serverKind);
else if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await accessBenchmark());
