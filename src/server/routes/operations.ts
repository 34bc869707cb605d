import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { LiveFeed } from '../../ops/live-feed.js';
import type { MemoryMonitor } from '../../ops/memory-monitor.js';
import type { Readiness } from '../../ops/readiness.js';
import type { RunHistory } from '../../ops/run-history.js';
import type { SecurityCounters } from '../../ops/security-counters.js';
import { errorResponses } from '../schemas.js';

const MemorySampleView = Type.Object({
  at: Type.String(),
  totalRssMb: Type.Number({ description: 'The server and its helper processes: what the thresholds apply to.' }),
  rssMb: Type.Number({ description: 'The server process alone.' }),
  helpersRssMb: Type.Number({ description: 'Its helper processes: PocketSphinx decoders (one process each), flite runs.' }),
  heapUsedMb: Type.Number(),
  heapTotalMb: Type.Number(),
  externalMb: Type.Number(),
  arrayBuffersMb: Type.Number(),
});

const ThresholdsView = Type.Object({
  warnMb: Type.Number(),
  criticalMb: Type.Number(),
  source: Type.String({ description: '`config` (set), `measured` (sized at start from this process) or `cgroup` (capped by the container’s memory limit).' }),
  limitMb: Type.Optional(Type.Number({ description: 'The container’s memory limit, when there is one.' })),
});

const MemoryView = Type.Object({
  state: Type.Union([Type.Literal('ok'), Type.Literal('warn'), Type.Literal('critical')]),
  current: Type.Union([MemorySampleView, Type.Null()]),
  thresholds: ThresholdsView,
});

const PastRunView = Type.Object({
  startedAt: Type.String(),
  endedAt: Type.Union([Type.String(), Type.Null()]),
  endReason: Type.String({ description: 'shutdown (a signal or a stop), crash (an uncaught error), memory (the critical level), unknown (killed, out of memory, power lost).' }),
  endDetail: Type.Union([Type.String(), Type.Null()]),
});

export interface OperationsRouteOptions {
  readonly readiness: Readiness;
  readonly memory: MemoryMonitor;
  readonly runs: RunHistory;
  readonly security: SecurityCounters;
  readonly live: LiveFeed;
  readonly memorySampleMs: number;
  readonly restartAlertPerHour: number;
}

/** Admin views for operators: memory over the last hour, and one health summary with restarts and security counters. */
export const operationsRoutes = (options: OperationsRouteOptions): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { readiness, memory, runs, security, live } = options;
    const memoryView = () => ({ state: memory.state, current: memory.history().at(-1) ?? null, thresholds: memory.thresholds });

    app.get(
      '/v1/admin/resources',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'Memory now and over the last hour, with the warning and critical levels',
          tags: ['admin'],
          response: {
            200: Type.Object({ ...MemoryView.properties, sampleMs: Type.Integer(), sessions: Type.Integer(), history: Type.Array(MemorySampleView, { description: 'One sample per monitor.memorySampleMs, oldest first, the last hour.' }) }),
            ...errorResponses(401, 403),
          },
        },
      },
      async () => ({ ...memoryView(), sampleMs: options.memorySampleMs, sessions: live.list().length, history: [...memory.history()] }),
    );

    app.get(
      '/v1/admin/health',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'Readiness, memory, restarts and security counters in one view',
          tags: ['admin'],
          response: {
            200: Type.Object({
              ready: Type.Boolean(),
              checks: Type.Array(Type.Object({ name: Type.String(), ok: Type.Boolean(), durationMs: Type.Integer(), error: Type.Optional(Type.String()) })),
              warnings: Type.Array(Type.Object({ name: Type.String(), message: Type.String() })),
              sessions: Type.Integer({ description: 'Voice sessions and calls in progress.' }),
              memory: MemoryView,
              restarts: Type.Object({
                lastHour: Type.Integer({ description: 'Starts in the hour before this one.' }),
                alertAbove: Type.Integer(),
                startedAt: Type.String(),
                previous: Type.Union([PastRunView, Type.Null()]),
                recent: Type.Array(PastRunView, { description: 'The latest runs before this one, newest first.' }),
              }),
              security: Type.Object({
                windowMinutes: Type.Integer(),
                authFailures: Type.Integer({ description: 'Requests refused for their credentials (none, malformed, wrong, expired, revoked).' }),
                loginFailures: Type.Integer(),
                lockouts: Type.Integer(),
                forbidden: Type.Integer({ description: 'Valid credentials without the scope or tenant a request needed.' }),
                limitRefusals: Type.Integer({ description: 'Requests refused by a rate limit or the daily quota.' }),
                sessionRefusals: Type.Integer(),
                alerts: Type.Integer({ description: 'security.auth_failures alerts raised.' }),
              }),
            }),
            ...errorResponses(401, 403),
          },
        },
      },
      async () => {
        const [{ ready, checks, warnings }, lastHour, recent] = await Promise.all([readiness.run(), runs.restartsInLastHour().catch(() => 0), runs.recent(10).catch(() => [])]);
        return {
          ready,
          checks,
          warnings,
          sessions: live.list().length,
          memory: memoryView(),
          restarts: { lastHour, alertAbove: options.restartAlertPerHour, startedAt: runs.current.startedAt, previous: runs.previous ?? null, recent },
          security: { windowMinutes: security.windowMinutes, ...security.totals() },
        };
      },
    );
  };
