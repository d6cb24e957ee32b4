/**
 * `GET /metrics`: the server's own metrics for Prometheus (docs/metrics.md), behind the API key
 * like every route. Registered first and not encapsulated, so its timing hook sees every request
 * and later plugins can add gauges through `app.serverMetrics`.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { jobStatuses } from '../../jobs/index.ts';
import { countJobsByStatus, type Db } from '../../store/index.ts';
import { ServerMetrics, type GaugeSample } from '../prometheus.ts';

declare module 'fastify' {
  interface FastifyInstance {
    serverMetrics: ServerMetrics;
  }
}

// Waiting for a worker: a start was requested and no worker has taken it yet.
const waiting = new Set(['QUEUED', 'STARTED', 'VALIDATING', 'VALIDATED']);

async function jobGauges(db: Db): Promise<{ byStatus: GaugeSample[]; queue: GaugeSample[] }> {
  const counts = await countJobsByStatus(db);
  const byStatus = jobStatuses.map((status) => ({
    labels: { status }, value: counts.filter((c) => c.status === status).reduce((n, c) => n + c.count, 0),
  }));
  const queued = counts.filter((c) => c.startRequested && waiting.has(c.status)).reduce((n, c) => n + c.count, 0);
  return { byStatus, queue: [{ value: queued }] };
}

const serverMetricsRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  const metrics = new ServerMetrics();
  app.decorate('serverMetrics', metrics);
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
  const db = app.atelier.store.db;
  metrics.gauge('atelier_jobs', 'Fine-tuning jobs of every workspace, by status.', async () => (await jobGauges(db)).byStatus);
  metrics.gauge('atelier_job_queue_depth', 'Jobs waiting for a worker (start requested, not yet running).', async () => (await jobGauges(db)).queue);
  const docs = { summary: "The server's metrics in Prometheus text format (any API key)", tags: ['meta'] };
  app.get('/metrics', { config: { docs: { ...docs, responseContentType: 'text/plain' } } }, async (_request, reply) => {
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await metrics.render());
  });
};
// Not encapsulated (what fastify-plugin does): the hook and the decorator reach the other plugins.
(serverMetricsRoutes as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

export default serverMetricsRoutes;
