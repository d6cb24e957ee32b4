/**
 * A job as each dialect sees it (reference §2.2, §6.2, §7): Mistral's `job` / job details (object
 * "job", int timestamps, training_files as ids, events and checkpoints newest first) and OpenAI's
 * `fine_tuning.job` with its events and checkpoints pages. One stored job, two renderings.
 */
import type { JobCheckpoint, JobEvent, JobRecord } from '../store/index.ts';
import { hyperparameterDefaults } from './hyperparameters.ts';
import { jobStatusSchema, toOpenAIStatus } from '../store/index.ts';

type Json = Record<string, unknown>;

const estimateKeys = ['expected_duration_seconds', 'cost', 'cost_currency', 'train_tokens_per_step', 'train_tokens', 'data_tokens', 'skipped_lines'] as const;

/** Mistral's JobMetadata: the estimate, with the queue's start time while the job waits. */
function mistralMetadata(job: JobRecord, startTime: number | null): Json {
  const e = job.estimate ?? {};
  const out: Json = Object.fromEntries(estimateKeys.map((k) => [k, e[k] ?? null]));
  return { ...out, estimated_start_time: startTime, epochs: e.epochs ?? null, training_steps: e.training_steps ?? null };
}

/** The request's hyperparameters with derived epochs and steps filled in once validated. */
function mistralHyperparameters(job: JobRecord): Json {
  const h = { ...job.hyperparameters };
  const e = job.estimate;
  if (e) {
    h.epochs = e.epochs;
    h.training_steps = e.training_steps;
  }
  if (job.jobType === 'classifier') delete h.fim_ratio;
  for (const k of ['train_projector', 'train_vision_encoder'] as const) if (h[k] === null || h[k] === undefined) delete h[k]; // only when asked for
  return h;
}

function mistralIntegrations(job: JobRecord): Json[] {
  return job.integrations.map((i) => ({ type: 'wandb', project: i.project, name: i.name ?? null, run_name: i.run_name ?? null, url: i.url ?? null }));
}

/** The create/list shape (no events, checkpoints or classifier targets). */
export function toMistralJob(job: JobRecord, startTime: number | null): Json {
  const out: Json = {
    id: job.id,
    object: 'job',
    auto_start: job.autoStart,
    model: job.model,
    status: jobStatusSchema.parse(job.status),
    job_type: job.jobType,
    created_at: job.createdAt,
    modified_at: job.modifiedAt,
    training_files: job.trainingFiles.map((f) => f.file_id),
    validation_files: job.validationFiles,
    fine_tuned_model: job.fineTunedModel,
    suffix: job.suffix,
    integrations: mistralIntegrations(job),
    trained_tokens: job.trainedTokens,
    metadata: mistralMetadata(job, startTime),
    hyperparameters: mistralHyperparameters(job),
  };
  // Atelier stores repositories but does not fetch them, so the commit is the requested ref.
  if (job.jobType === 'completion') out.repositories = job.repositories.map((r) => ({ ...r, token: undefined, commit_id: r.ref ?? 'HEAD' }));
  return out;
}

/** The get/cancel/start shape: the job plus status events and checkpoints, newest first (and classifier targets). */
export function toMistralJobDetails(job: JobRecord, startTime: number | null, events: JobEvent[], checkpoints: JobCheckpoint[]): Json {
  const out: Json = {
    ...toMistralJob(job, startTime),
    events: events.filter((e) => e.name === 'status-updated').map((e) => ({ name: e.name, data: e.data, created_at: e.createdAt })),
    checkpoints: checkpoints.map((c) => ({ metrics: c.metrics, step_number: c.stepNumber, created_at: c.createdAt })),
  };
  if (job.jobType === 'classifier') {
    out.classifier_targets = (job.classifierTargets ?? []).map((t) => ({
      name: t.name, labels: t.labels, weight: t.weight ?? 1, loss_function: t.loss_function ?? 'single_class',
    }));
  }
  return out;
}

/**
 * OpenAI's n_epochs is an integer or "auto": the requested or derived epochs rounded (at least 1),
 * "auto" until validation derives them. The precise figure is the Mistral rendering's
 * `hyperparameters.epochs` (docs/api-compatibility.md).
 */
function openAIEpochs(epochs: unknown): number | 'auto' {
  return typeof epochs === 'number' ? Math.max(1, Math.round(epochs)) : 'auto';
}

/** OpenAI's fine_tuning.job. */
export function toOpenAIJob(job: JobRecord): Json {
  const e = job.estimate ?? {};
  const h = job.hyperparameters;
  const lr = typeof h.learning_rate === 'number' ? h.learning_rate : hyperparameterDefaults.learning_rate;
  const hyperparameters = {
    n_epochs: openAIEpochs(h.epochs ?? e.epochs),
    batch_size: h.batch_size ?? 'auto',
    learning_rate_multiplier: lr / hyperparameterDefaults.learning_rate,
  };
  const duration = typeof e.expected_duration_seconds === 'number' ? e.expected_duration_seconds : null;
  return {
    id: job.id,
    object: 'fine_tuning.job',
    created_at: job.createdAt,
    finished_at: job.finishedAt,
    error: job.error,
    fine_tuned_model: job.fineTunedModel,
    hyperparameters,
    model: job.model,
    organization_id: job.workspaceId,
    result_files: job.resultFiles,
    seed: job.seed ?? 0,
    status: toOpenAIStatus(jobStatusSchema.parse(job.status)),
    trained_tokens: job.trainedTokens,
    training_file: job.trainingFiles[0]?.file_id ?? null,
    validation_file: job.validationFiles[0] ?? null,
    estimated_finish: job.startedAt !== null && duration !== null && job.finishedAt === null ? job.startedAt + duration : null,
    integrations: job.integrations.map((i) => ({ type: 'wandb', wandb: { project: i.project, name: i.name ?? null, entity: i.entity ?? null, tags: i.tags ?? [] } })),
    metadata: Object.keys(job.userMetadata).length ? job.userMetadata : null,
    method: { type: 'supervised', supervised: { hyperparameters } },
  };
}

/** OpenAI's fine_tuning.job.event (metrics events carry type "metrics"). */
export function toOpenAIEvent(e: JobEvent): Json {
  return {
    id: e.id, object: 'fine_tuning.job.event', created_at: e.createdAt, level: e.level, message: e.message,
    type: e.name === 'metrics' ? 'metrics' : 'message', data: e.data ?? {},
  };
}

/** OpenAI's fine_tuning.job.checkpoint. */
export function toOpenAICheckpoint(c: JobCheckpoint, job: JobRecord): Json {
  return {
    id: c.id,
    object: 'fine_tuning.job.checkpoint',
    created_at: c.createdAt,
    fine_tuned_model_checkpoint: `${job.fineTunedModel ?? `ft:${job.model}:${job.id.slice(0, 8)}`}:ckpt-step-${c.stepNumber}`,
    fine_tuning_job_id: job.id,
    step_number: c.stepNumber,
    metrics: {
      step: c.stepNumber, train_loss: c.metrics.train_loss, train_mean_token_accuracy: null, valid_loss: c.metrics.valid_loss,
      valid_mean_token_accuracy: c.metrics.valid_mean_token_accuracy, full_valid_loss: c.metrics.valid_loss,
      full_valid_mean_token_accuracy: c.metrics.valid_mean_token_accuracy,
    },
  };
}
