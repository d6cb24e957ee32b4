/**
 * Both dialects' create requests (already parsed by the route's zod schemas) turned into one
 * dialect-neutral job spec. OpenAI: training_file → one training file of weight 1, n_epochs /
 * batch_size / learning_rate_multiplier mapped (hyperparameters.ts), auto_start true.
 */
import { fromOpenAIHyperparameters, normalizeHyperparameters, type HyperparametersInput, type OpenAIHyperparametersInput } from './hyperparameters.ts';
import { suffixPattern } from './model-id.ts';
import { JobError, type JobSpec } from './service.ts';

export type MistralCreateInput = {
  model: string;
  training_files?: { file_id: string; weight?: number | null }[] | null;
  validation_files?: string[] | null;
  suffix?: string | null;
  integrations?: { type: 'wandb'; project: string; name?: string | null; api_key: string; run_name?: string | null }[] | null;
  auto_start?: boolean | null;
  invalid_sample_skip_percentage?: number | null;
  job_type?: 'completion' | 'classifier' | null;
  hyperparameters?: HyperparametersInput | null;
  repositories?: { type: 'github'; name: string; owner: string; ref?: string | null; weight?: number | null; token: string }[] | null;
  classifier_targets?: { name: string; labels: string[]; weight?: number | null; loss_function?: 'single_class' | 'multi_class' | null }[] | null;
};

export type OpenAICreateInput = {
  model: string;
  training_file: string;
  validation_file?: string | null;
  suffix?: string | null;
  seed?: number | null;
  metadata?: Record<string, string> | null;
  hyperparameters?: OpenAIHyperparametersInput | null;
  method?: { type: string; supervised?: { hyperparameters?: OpenAIHyperparametersInput | null } | null } | null;
  integrations?: { type: 'wandb'; wandb: { project: string; name?: string | null; entity?: string | null; tags?: string[] | null } }[] | null;
};

function checkSuffix(suffix: string | null | undefined): string | null {
  if (suffix === undefined || suffix === null || suffix === '') return null;
  if (!suffixPattern.test(suffix)) throw new JobError('invalid_job', `suffix '${suffix}' must be 1-64 characters of letters, digits, '.', '_' or '-' (it becomes part of the model id).`, 'suffix');
  return suffix;
}

/** A Mistral create body as a job spec; throws JobError for combinations zod cannot see. */
export function fromMistralCreate(b: MistralCreateInput): JobSpec {
  const jobType = b.job_type ?? 'completion';
  const training = (b.training_files ?? []).map((f) => ({ file_id: f.file_id, weight: f.weight ?? 1 }));
  if (training.length === 0) throw new JobError('invalid_job', 'training_files must name at least one uploaded file: [{"file_id": "...", "weight": 1}].', 'training_files');
  if (jobType === 'classifier' && !b.classifier_targets?.length) {
    throw new JobError('invalid_job', 'a classifier job needs classifier_targets: [{"name": ..., "labels": [...]}].', 'classifier_targets');
  }
  return {
    dialect: 'mistral', jobType, model: b.model, autoStart: b.auto_start ?? true, trainingFiles: training,
    validationFiles: b.validation_files ?? [], hyperparameters: normalizeHyperparameters(b.hyperparameters ?? {}), suffix: checkSuffix(b.suffix),
    integrations: (b.integrations ?? []).map((i) => ({ ...i })),
    repositories: (b.repositories ?? []).map((r) => ({ ...r, ref: r.ref ?? null, weight: r.weight ?? 1 })),
    classifierTargets: jobType === 'classifier' ? (b.classifier_targets ?? []).map((t) => ({ ...t, weight: t.weight ?? 1, loss_function: t.loss_function ?? 'single_class' })) : null,
    userMetadata: {}, invalidSampleSkipPercentage: b.invalid_sample_skip_percentage ?? 0, seed: null,
  };
}

/** An OpenAI create body as a job spec (supervised only: dpo and reinforcement have no Mistral equivalent). */
export function fromOpenAICreate(b: OpenAICreateInput): JobSpec {
  const method = b.method?.type ?? 'supervised';
  if (method !== 'supervised') throw new JobError('invalid_job', `method.type '${method}' is not offered; Atelier trains supervised fine-tuning jobs (method.type "supervised").`, 'method.type');
  return {
    dialect: 'openai', jobType: 'completion', model: b.model, autoStart: true, trainingFiles: [{ file_id: b.training_file, weight: 1 }],
    validationFiles: b.validation_file ? [b.validation_file] : [],
    hyperparameters: fromOpenAIHyperparameters(b.method?.supervised?.hyperparameters ?? b.hyperparameters ?? {}),
    suffix: checkSuffix(b.suffix),
    integrations: (b.integrations ?? []).map((i) => ({ type: 'wandb', project: i.wandb.project, name: i.wandb.name ?? null, entity: i.wandb.entity ?? null, tags: i.wandb.tags ?? [] })),
    repositories: [], classifierTargets: null, userMetadata: b.metadata ?? {}, invalidSampleSkipPercentage: 0, seed: b.seed ?? null,
  };
}
