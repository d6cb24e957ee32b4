/**
 * A fine-tuning job's whole metrics history (docs/metrics.md): one row per optimizer step in step
 * order, evaluations merged into their step, thinned past ATELIER_JOB_METRICS_MAX_POINTS.
 * Atelier's own route; OpenAI's view of the same series is the metrics events and result_files CSV.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toMetricsRow } from '../../jobs/index.ts';
import { getJob, listJobMetrics } from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { decodeId, parse } from '../parse.ts';

const idParams = z.object({ job_id: z.string().min(1).transform(decodeId) });
const n = z.number().nullable();
const row = z.object({
  step: z.int(), epoch: n, train_loss: n, train_accuracy: n, learning_rate: n, grad_norm: n, tokens_per_second: n, trained_tokens: n,
  valid_loss: n, valid_mean_token_accuracy: n,
}).loose().describe('one optimizer step; classifier jobs add `classifier` {target: {accuracy, macro_f1}} at evaluated steps');
const metricsList = z.object({
  object: z.literal('list'), job_id: z.string(), data: z.array(row),
  downsampled: z.boolean().describe('true when the history was thinned (not every step is present)'),
});

export default async function jobMetricsRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.atelier;
  const docs = { summary: "A job's metrics history, one row per optimizer step (Atelier extension)", tags: ['fine-tuning'], params: idParams, response: metricsList };
  app.get('/v1/fine_tuning/jobs/:job_id/metrics', { config: { docs } }, async (request) => {
    const { job_id } = parse(idParams, request.params, 'path');
    const job = await getJob(ctx.store.db, request.workspace.id, job_id);
    if (!job) throw new ApiError('job_not_found', { id: job_id });
    const { points, downsampled } = await listJobMetrics(ctx.store.db, job.id, ctx.settings.jobMetricsMaxPoints);
    return { object: 'list' as const, job_id: job.id, data: points.map(toMetricsRow), downsampled };
  });
}
