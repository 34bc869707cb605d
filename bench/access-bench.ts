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
 * Rate limits stay on, raised above what the bench drives: their cost is part of the measure.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

const startChild = (kind: ServerKind): Promise<{ child: ChildProcess; ready: Ready }> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, HARKEN_BENCH_ACCESS_SERVER: kind },
      // tsx's own CLI wrapper talks to its children over IPC; load it as a plain loader instead.
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.once('message', (ready) => resolve({ child, ready: ready as Ready }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code}) before it was ready`)));
  });

type Load = { requestsPerSecond: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number };

const drive = async (url: string, key: string | undefined, seconds: number): Promise<Load> => {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  return { requestsPerSecond: result.requests.average, p50Ms: result.latency.p50, p99Ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
};

export const accessBenchmark = async (): Promise<string> => {
  const children = { bare: await startChild('bare'), harken: await startChild('harken'), 'harken-quiet': await startChild('harken-quiet') };
  const base = { bare: children.bare.ready, harken: children.harken.ready, 'harken-quiet': children['harken-quiet'].ready };
  const loads = new Map<string, Load[]>(TARGETS.map((target) => [target.name, []]));
  try {
    for (const target of TARGETS) await drive(`${base[target.server].url}${target.path}`, target.withKey ? base[target.server].key : undefined, WARMUP_S);
    for (let run = 0; run < RUNS; run += 1) {
      for (const target of TARGETS) {
        const load = await drive(`${base[target.server].url}${target.path}`, target.withKey ? base[target.server].key : undefined, DURATION_S);
        if (load.non2xx > 0 || load.errors > 0) throw new Error(`${target.name}: ${load.non2xx} non-2xx responses, ${load.errors} errors — the bench must measure successful requests`);
        loads.get(target.name)!.push(load);
        console.error(`  run ${run + 1}, ${target.name}: ${load.requestsPerSecond.toFixed(0)} req/s, p50 ${load.p50Ms} ms`);
      }
    }
  } finally {
    // Disconnecting tells each server to exit; the kill is the backstop, so `npm run bench` always ends.
    for (const { child } of Object.values(children)) {
      child.disconnect();
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }
  }
  const bareRps = median(loads.get(TARGETS[0]!.name)!.map((load) => load.requestsPerSecond));
  return [
    `## Access layer (${new Date().toISOString().slice(0, 10)}, ${RUNS} interleaved runs of ${DURATION_S} s, ${CONNECTIONS} connections, autocannon)`,
    '',
    '| Server | Requests/s (median) | Ratio to bare | Latency p50 | p99 |',
    '|---|---|---|---|---|',
    ...TARGETS.map((target) => {
      const runs = loads.get(target.name)!;
      const rps = median(runs.map((load) => load.requestsPerSecond));
      return `| ${target.name} | ${rps.toFixed(0)} | ${(rps / bareRps).toFixed(2)} | ${median(runs.map((load) => load.p50Ms)).toFixed(0)} ms | ${median(runs.map((load) => load.p99Ms)).toFixed(0)} ms |`;
    }),
  ].join('\n');
};

const serverKind = process.env.HARKEN_BENCH_ACCESS_SERVER;
if (serverKind === 'bare' || serverKind === 'harken' || serverKind === 'harken-quiet') await serve(serverKind);
else if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await accessBenchmark());
