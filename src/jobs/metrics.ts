/**
 * A job's metrics history in the shapes it is served in: the rows of
 * GET /v1/fine_tuning/jobs/{id}/metrics (docs/metrics.md) and OpenAI's result_files CSV.
 */
import type { JobMetricsPoint } from '../store/index.ts';

export type MetricsRow = {
  step: number; epoch: number | null; train_loss: number | null; train_accuracy: number | null; learning_rate: number | null;
  grad_norm: number | null; tokens_per_second: number | null; trained_tokens: number | null; valid_loss: number | null;
  valid_mean_token_accuracy: number | null; [extra: string]: unknown;
};

/** One row of the metrics endpoint; recipe-specific metrics (classifier) follow under their own keys. */
export function toMetricsRow(p: JobMetricsPoint): MetricsRow {
  return {
    step: p.step, epoch: p.epoch, train_loss: p.trainLoss, train_accuracy: p.trainAccuracy, learning_rate: p.learningRate,
    grad_norm: p.gradNorm, tokens_per_second: p.tokensPerSecond, trained_tokens: p.trainedTokens, valid_loss: p.validLoss,
    valid_mean_token_accuracy: p.validMeanTokenAccuracy, ...(p.extra ?? {}),
  };
}

/** OpenAI's results CSV columns, in its order. */
export const resultsCsvColumns = ['step', 'train_loss', 'train_accuracy', 'valid_loss', 'valid_mean_token_accuracy'] as const;

/** The result_files CSV: a header, then one line per stored step; unknown values are empty, numbers at full precision. */
export function toResultsCsv(points: JobMetricsPoint[]): string {
  const cell = (v: number | null) => (v === null ? '' : String(v));
  const lines = points.map((p) => [p.step, cell(p.trainLoss), cell(p.trainAccuracy), cell(p.validLoss), cell(p.validMeanTokenAccuracy)].join(','));
  return `${[resultsCsvColumns.join(','), ...lines].join('\n')}\n`;
}
