/**
 * `atelier jobs create|list|get|start|cancel|watch`: fine-tuning jobs on a running server, in
 * Mistral's shape (/v1/fine_tuning/jobs). `watch` follows a job to its end with a progress bar,
 * ETA and the latest losses (from GET /v1/fine_tuning/jobs/{id}/metrics); its exit code says how
 * the job ended (0 SUCCESS, 1 otherwise).
 */
import { formatDuration } from '../progress.ts';
import { seg } from '../http-client.ts';
import { print, runGroup, table, UsageError, when, type RemoteContext, type Subcommand } from '../remote-command.ts';
import { watchJob } from './jobs-watch.ts';

export type Job = {
  id: string; status: string; model: string; created_at: number; fine_tuned_model?: string | null; suffix?: string | null;
  trained_tokens?: number | null; hyperparameters?: Record<string, unknown>; metadata?: Record<string, unknown> | null;
  events?: { name: string; data?: Record<string, unknown> | null }[];
};

function describe(j: Job): string {
  const m = j.metadata ?? {};
  const lines = [
    `${j.id}  ${j.status}  ${j.model}${j.suffix ? ` (suffix ${j.suffix})` : ''}  created ${when(j.created_at)}`,
    j.fine_tuned_model ? `fine-tuned model: ${j.fine_tuned_model}` : '',
    typeof m.training_steps === 'number' ? `steps: ${m.training_steps}, train tokens: ${String(m.train_tokens ?? '?')}, epochs: ${String(m.epochs ?? '?')}` : '',
    typeof m.expected_duration_seconds === 'number' ? `estimate: ${formatDuration(m.expected_duration_seconds)}, cost ${String(m.cost)} ${String(m.cost_currency ?? '')}` : '',
  ];
  const failure = j.events?.find((e) => e.data?.status === 'FAILED' || e.data?.status === 'FAILED_VALIDATION');
  if (failure && (j.status === 'FAILED' || j.status === 'FAILED_VALIDATION')) lines.push(`error: ${JSON.stringify(failure.data?.error ?? failure.data)}`);
  return lines.filter(Boolean).join('\n');
}

function number(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number, got '${String(v)}'`);
  return n;
}

/** `ID` or `ID:WEIGHT` → {file_id, weight}. */
function trainingFile(spec: string): { file_id: string; weight: number } {
  const at = spec.lastIndexOf(':');
  if (at <= 0) return { file_id: spec, weight: 1 };
  return { file_id: spec.slice(0, at), weight: number(spec.slice(at + 1), 'training-file weight') ?? 1 };
}

function createBody(v: RemoteContext['values']): Record<string, unknown> {
  const files = (v['training-file'] as string[] | undefined) ?? [];
  if (!v.model || files.length === 0) throw new UsageError('create needs --model MODEL and at least one --training-file FILE_ID[:WEIGHT]');
  const hyperparameters = Object.fromEntries(Object.entries({
    training_steps: number(v.steps, 'steps'), epochs: number(v.epochs, 'epochs'), learning_rate: number(v['learning-rate'], 'learning-rate'),
    seq_len: number(v['seq-len'], 'seq-len'), batch_size: number(v['batch-size'], 'batch-size'), lora_rank: number(v['lora-rank'], 'lora-rank'),
  }).filter(([, x]) => x !== undefined));
  return {
    model: v.model, training_files: files.map(trainingFile), validation_files: (v['validation-file'] as string[] | undefined) ?? [],
    suffix: v.suffix, auto_start: !v['no-start'], hyperparameters,
  };
}

async function create(ctx: RemoteContext): Promise<number> {
  const job = await ctx.client.json<Job>('POST', '/v1/fine_tuning/jobs', { json: createBody(ctx.values) });
  print(ctx, job, () => describe(job));
  return 0;
}

async function list(ctx: RemoteContext): Promise<number> {
  const query = { status: ctx.values.status as string | undefined, model: ctx.values.model as string | undefined, page_size: 100 };
  const page = await ctx.client.json<{ data: Job[] }>('GET', '/v1/fine_tuning/jobs', { query });
  print(ctx, page, () => table(['ID', 'STATUS', 'MODEL', 'FINE-TUNED MODEL', 'CREATED'], page.data.map((j) => [j.id, j.status, j.model, j.fine_tuned_model ?? '-', when(j.created_at)])));
  return 0;
}

const show = (method: 'GET' | 'POST', suffix: string) => async (ctx: RemoteContext): Promise<number> => {
  const job = await ctx.client.json<Job>(method, `/v1/fine_tuning/jobs/${seg(ctx.args[0] ?? '')}${suffix}`);
  print(ctx, job, () => describe(job));
  return 0;
};

const createOptions = {
  model: { type: 'string' }, 'training-file': { type: 'string', multiple: true }, 'validation-file': { type: 'string', multiple: true },
  suffix: { type: 'string' }, steps: { type: 'string' }, epochs: { type: 'string' }, 'learning-rate': { type: 'string' },
  'seq-len': { type: 'string' }, 'batch-size': { type: 'string' }, 'lora-rank': { type: 'string' }, 'no-start': { type: 'boolean' },
} as const;

const subs: Record<string, Subcommand> = {
  create: {
    synopsis: 'create --model M --training-file ID[:W]... [--validation-file ID]... [--suffix S] [--steps N | --epochs X] [--learning-rate LR] [--seq-len N] [--batch-size N] [--lora-rank R] [--no-start]',
    summary: 'create a job (it starts once validated, unless --no-start: then `atelier jobs start`)', options: createOptions, run: create,
  },
  list: { synopsis: 'list [--status S] [--model M]', summary: "list the workspace's jobs, newest first", options: { status: { type: 'string' }, model: { type: 'string' } }, run: list },
  get: { synopsis: 'get JOB_ID', summary: 'a job, its estimate and its status', positionals: 1, run: show('GET', '') },
  start: { synopsis: 'start JOB_ID', summary: 'start a job created with --no-start once it is VALIDATED', positionals: 1, run: show('POST', '/start') },
  cancel: { synopsis: 'cancel JOB_ID', summary: 'cancel a job (a running trainer is stopped)', positionals: 1, run: show('POST', '/cancel') },
  watch: { synopsis: 'watch JOB_ID [--interval SECONDS]', summary: 'follow a job to its end: progress, ETA, latest losses (exit 0 on SUCCESS, 1 otherwise)', options: { interval: { type: 'string' } }, positionals: 1, run: watchJob },
};

export function run(args: string[]): Promise<number> {
  return runGroup('jobs', subs, args);
}
