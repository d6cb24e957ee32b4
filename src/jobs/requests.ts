/**
 * Both dialects' create requests: their zod schemas (the route parses with them; the types are
 * inferred from them) and the dialect-neutral job spec they turn into. OpenAI: training_file → one training file of weight 1, n_epochs /
 * batch_size / learning_rate_multiplier mapped (hyperparameters.ts), auto_start true.
 */
import { z } from 'zod';
import { fromOpenAIHyperparameters, hyperparametersInputSchema, normalizeHyperparameters, openAIHyperparametersInputSchema } from './hyperparameters.ts';
import { suffixPattern } from './model-id.ts';
import { JobError, type JobSpec } from './service.ts';

const nullableNum = z.number().nullish();
/** Mistral's create body (`POST /v1/fine_tuning/jobs`). */
export const mistralCreateSchema = z.object({
  model: z.string().min(1),
  training_files: z.array(z.object({ file_id: z.string().min(1), weight: z.number().positive().nullish() })).nullish(),
  validation_files: z.array(z.string().min(1)).nullish(),
  suffix: z.string().max(18).nullish(),
  integrations: z.array(z.object({ type: z.literal('wandb'), project: z.string().min(1), name: z.string().nullish(), api_key: z.string(), run_name: z.string().nullish() })).nullish(),
  auto_start: z.boolean().nullish(),
  invalid_sample_skip_percentage: z.number().min(0).max(100).nullish(),
  job_type: z.enum(['completion', 'classifier']).nullish(),
  hyperparameters: hyperparametersInputSchema.nullish(),
  repositories: z.array(z.object({ type: z.literal('github'), name: z.string(), owner: z.string(), ref: z.string().nullish(), weight: nullableNum, token: z.string() })).nullish(),
  classifier_targets: z.array(z.object({
    name: z.string().min(1), labels: z.array(z.string()).min(1), weight: nullableNum, loss_function: z.enum(['single_class', 'multi_class']).nullish(),
  })).nullish(),
});
export type MistralCreateInput = z.infer<typeof mistralCreateSchema>;

/** OpenAI's create body (`training_file` instead of `training_files`). */
export const openAICreateSchema = z.object({
  model: z.string().min(1),
  training_file: z.string().min(1),
  validation_file: z.string().nullish(),
  suffix: z.string().max(64).nullish(),
  seed: z.int().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  hyperparameters: openAIHyperparametersInputSchema.nullish(),
  method: z.object({ type: z.string(), supervised: z.object({ hyperparameters: openAIHyperparametersInputSchema.nullish() }).nullish() }).nullish(),
  integrations: z.array(z.object({ type: z.literal('wandb'), wandb: z.object({ project: z.string(), name: z.string().nullish(), entity: z.string().nullish(), tags: z.array(z.string()).nullish() }) })).nullish(),
});
export type OpenAICreateInput = z.infer<typeof openAICreateSchema>;

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
