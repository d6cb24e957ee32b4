/**
 * `atelier jobs watch JOB_ID`: polls the job and its metrics history until the job ends, drawing
 * a progress bar (stderr) with the ETA (from the steps done while watching) and the latest train
 * and validation losses. Exit 0 when the job ends SUCCESS, 1 when it ends any other way.
 */
import { createProgressBar, formatDuration } from '../progress.ts';
import { seg } from '../http-client.ts';
import { print, UsageError, type RemoteContext } from '../remote-command.ts';
import type { Job } from './jobs.ts';

const ended = new Set(['SUCCESS', 'FAILED', 'FAILED_VALIDATION', 'CANCELLED']);

type Row = { step: number; train_loss: number | null; valid_loss: number | null };
type Sample = { ms: number; step: number };

const fmt = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(4) : '-');

/** ETA from the pace between the first and latest samples seen while watching. */
function eta(first: Sample | null, last: Sample, total: number): string {
  if (!first || last.step <= first.step) return '?';
  const perStep = (last.ms - first.ms) / (last.step - first.step);
  return formatDuration(((total - last.step) * perStep) / 1000);
}

function fields(rows: Row[], etaText: string): Record<string, string> {
  const last = rows.at(-1);
  const lastValid = [...rows].reverse().find((r) => r.valid_loss !== null);
  return { loss: fmt(last?.train_loss), 'valid loss': fmt(lastValid?.valid_loss), eta: etaText };
}

export async function watchJob(ctx: RemoteContext): Promise<number> {
  const id = seg(ctx.args[0] ?? '');
  const everyMs = ctx.values.interval === undefined ? 1000 : Number(ctx.values.interval) * 1000;
  if (!(everyMs > 0)) throw new UsageError(`--interval must be a positive number of seconds, got '${String(ctx.values.interval)}'`);
  const bar = createProgressBar(`job ${ctx.args[0]}`, process.stderr, 2000);
  let status = '';
  let first: Sample | null = null;
  for (;;) {
    const job = await ctx.client.json<Job>('GET', `/v1/fine_tuning/jobs/${id}`);
    if (job.status !== status && !ctx.json) process.stderr.write(`${status ? '\n' : ''}status: ${job.status}\n`);
    status = job.status;
    const total = Number(job.hyperparameters?.training_steps ?? 0);
    if (status === 'RUNNING' || ended.has(status)) {
      const { data } = await ctx.client.json<{ data: Row[] }>('GET', `/v1/fine_tuning/jobs/${id}/metrics`);
      const sample = { ms: Date.now(), step: data.at(-1)?.step ?? 0 };
      if (sample.step > 0 && !first) first = sample;
      if (total > 0 && !ctx.json) bar.update(sample.step, total, fields(data, eta(first, sample, total)));
    }
    if (ended.has(status)) {
      bar.finish(ctx.json ? undefined : `job ${job.id} ended ${status}${job.fine_tuned_model ? `: ${job.fine_tuned_model}` : ''}`);
      if (ctx.json) print(ctx, job, () => '');
      return status === 'SUCCESS' ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
