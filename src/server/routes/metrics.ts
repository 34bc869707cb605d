import type { FastifyPluginAsync } from 'fastify';
import type { PrometheusMetrics } from '../../ops/prometheus-metrics.js';

/** Prometheus scrapes GET /metrics with a key of scope `metrics` (a bearer token in its scrape config). */
export const metricsRoutes = (metrics: PrometheusMetrics): FastifyPluginAsync =>
  async (app) => {
    app.get(
      '/metrics',
      // Scraped every few seconds: one log line each would drown the request log.
      { logLevel: 'warn', config: { access: 'metrics' }, schema: { summary: 'Metrics in the Prometheus text format (scope metrics)', tags: ['operations'], produces: ['text/plain'] } },
      async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
  };
