import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Readiness } from '../../ops/readiness.js';
import { ErrorResponse } from '../schemas.js';

const Check = Type.Object({ name: Type.String(), ok: Type.Boolean(), durationMs: Type.Integer(), error: Type.Optional(Type.String()) });
const Warning = Type.Object({ name: Type.String(), message: Type.String() }, { description: 'Needs an operator’s attention without stopping traffic: memory above monitor.memoryWarnMb, more restarts in an hour than monitor.restartAlertPerHour.' });

export const healthRoutes = (readiness: Readiness, version: string): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/health',
      {
        logLevel: 'warn',
        config: { access: 'authenticated', rateLimitExempt: true },
        schema: {
          summary: 'Liveness: the process is up and serving HTTP',
          tags: ['operations'],
          response: { 200: Type.Object({ status: Type.Literal('ok'), version: Type.String(), uptimeSeconds: Type.Number() }) },
        },
      },
      async () => ({ status: 'ok' as const, version, uptimeSeconds: Math.round(process.uptime()) }),
    );

    app.get(
      '/ready',
      {
        logLevel: 'warn',
        config: { access: 'authenticated', rateLimitExempt: true },
        schema: {
          summary: 'Readiness: every dependency (database, agents) answers',
          description: '503 names the failing checks in error.message and lists every check.',
          tags: ['operations'],
          response: {
            200: Type.Object({ status: Type.Literal('ready'), checks: Type.Array(Check), warnings: Type.Array(Warning) }),
            503: Type.Object({ ...ErrorResponse.properties, status: Type.Literal('unavailable'), checks: Type.Array(Check), warnings: Type.Array(Warning) }),
          },
        },
      },
      async (_request, reply) => {
        const { ready, checks, warnings } = await readiness.run();
        if (ready) return reply.send({ status: 'ready' as const, checks, warnings });
        const failing = checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.error ?? 'failed'}`);
        return reply.status(503).send({
          status: 'unavailable' as const,
          error: { code: 'not_ready', message: `not ready: ${failing.join('; ')}` },
          checks,
          warnings,
        });
      },
    );
  };
