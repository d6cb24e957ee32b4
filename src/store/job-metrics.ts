/**
 * The `job_metrics` table: a job's metrics history, one row per optimizer step, with the step's
 * evaluation merged into its row. The history is bounded per job: past `maxPoints` rows it keeps
 * every `stride`-th step (a power of two, so thinning is stable as the job grows), every evaluated
 * step and the latest step. Uniform thinning keeps the curve's shape; averages would smooth it.
 */
import type { Db } from './db.ts';

export type JobMetricsPoint = {
  step: number;
  epoch: number | null;
  trainLoss: number | null;
  trainAccuracy: number | null;
  learningRate: number | null;
  gradNorm: number | null;
  tokensPerSecond: number | null;
  trainedTokens: number | null;
  validLoss: number | null;
  validMeanTokenAccuracy: number | null;
  /** An evaluation ran at this step (its row survives thinning). */
  evaluated: boolean;
  /** Recipe-specific metrics (classifier: per-target accuracy and macro F1). */
  extra: Record<string, unknown> | null;
};

/** What a recorder sends: a step's training metrics, its evaluation, or both; absent fields keep their stored value. */
export type JobMetricsUpdate = Partial<Omit<JobMetricsPoint, 'step'>> & { step: number };

const columns = [
  ['epoch', 'epoch'], ['trainLoss', 'train_loss'], ['trainAccuracy', 'train_accuracy'], ['learningRate', 'learning_rate'],
  ['gradNorm', 'grad_norm'], ['tokensPerSecond', 'tokens_per_second'], ['trainedTokens', 'trained_tokens'],
  ['validLoss', 'valid_loss'], ['validMeanTokenAccuracy', 'valid_mean_token_accuracy'],
] as const;

/**
 * The thinning stride once the history reaches `step` with `evaluations` evaluated rows: the
 * smallest power of two that keeps on-stride rows + evaluations + the latest row within maxPoints.
 */
export function metricsStride(step: number, evaluations: number, maxPoints: number): number {
  const budget = Math.max(1, maxPoints - evaluations - 1);
  let stride = 1;
  while (Math.floor(step / stride) > budget) stride *= 2;
  return stride;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toPoint(r: Record<string, unknown>): JobMetricsPoint {
  const point = { step: Number(r.step), evaluated: Number(r.evaluated) === 1, extra: typeof r.extra === 'string' ? (JSON.parse(r.extra) as Record<string, unknown>) : null };
  return { ...point, ...Object.fromEntries(columns.map(([key, col]) => [key, num(r[col])])) } as JobMetricsPoint;
}

async function upsertPoint(tx: Db, jobId: string, u: JobMetricsUpdate): Promise<void> {
  const values = columns.map(([key]) => u[key] ?? null);
  const names = columns.map(([, col]) => col);
  const merge = names.map((c) => `${c} = COALESCE(excluded.${c}, job_metrics.${c})`).join(', ');
  await tx.run(
    `INSERT INTO job_metrics (job_id, step, ${names.join(', ')}, evaluated, extra, created_ms)
     VALUES ($1, $2, ${names.map((_, i) => `$${i + 3}`).join(', ')}, $12, $13, $14)
     ON CONFLICT (job_id, step) DO UPDATE SET ${merge},
       evaluated = CASE WHEN excluded.evaluated = 1 THEN 1 ELSE job_metrics.evaluated END,
       extra = COALESCE(excluded.extra, job_metrics.extra)`,
    [jobId, u.step, ...values, u.evaluated ? 1 : 0, u.extra ? JSON.stringify(u.extra) : null, Date.now()],
  );
}

/**
 * Records (or merges into) the row of `update.step` and thins the history to maxPoints; resolves
 * to the stride now in force (1 while every step is kept), which a caller may use to thin events alike.
 */
export async function recordJobMetrics(db: Db, jobId: string, update: JobMetricsUpdate, maxPoints: number): Promise<number> {
  return db.transaction(async (tx) => {
    await upsertPoint(tx, jobId, update);
    const evals = await tx.one<{ n: number }>('SELECT COUNT(*) AS n FROM job_metrics WHERE job_id = $1 AND evaluated = 1', [jobId]);
    const stride = metricsStride(update.step, Number(evals?.n ?? 0), maxPoints);
    if (stride > 1) {
      await tx.run('DELETE FROM job_metrics WHERE job_id = $1 AND step < $2 AND evaluated = 0 AND step % $3 <> 0', [jobId, update.step, stride]);
    }
    return stride;
  });
}

/** A job's history in step order, and whether it was thinned (not every step is there). */
export async function listJobMetrics(db: Db, jobId: string, maxPoints: number): Promise<{ points: JobMetricsPoint[]; downsampled: boolean }> {
  const rows = await db.query('SELECT * FROM job_metrics WHERE job_id = $1 ORDER BY step', [jobId]);
  const points = rows.map(toPoint);
  const last = points.at(-1);
  const evals = points.filter((p) => p.evaluated).length;
  return { points, downsampled: last !== undefined && metricsStride(last.step, evals, maxPoints) > 1 };
}

/** Records the files written when a job ended (OpenAI's result_files). */
export async function setJobResultFiles(db: Db, jobId: string, fileIds: string[]): Promise<void> {
  await db.run('UPDATE jobs SET result_files = $2 WHERE id = $1', [jobId, JSON.stringify(fileIds)]);
}

/** Jobs of every workspace by status, and whether a start was requested (the queue), for the server's /metrics. */
export async function countJobsByStatus(db: Db): Promise<{ status: string; startRequested: boolean; count: number }[]> {
  const rows = await db.query<{ status: string; start_requested: number; n: number }>(
    'SELECT status, start_requested, COUNT(*) AS n FROM jobs GROUP BY status, start_requested',
  );
  return rows.map((r) => ({ status: r.status, startRequested: Number(r.start_requested) === 1, count: Number(r.n) }));
}
