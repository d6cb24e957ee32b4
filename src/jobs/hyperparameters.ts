/**
 * Hyperparameters: Mistral's fields with Mistral's defaults, Atelier's documented extensions (LoRA
 * rank, batch size), the OpenAI mapping, and the plan (steps, epochs) derived from real token counts.
 */
import { z } from 'zod';

/** What a job stores: the request's values, defaults filled, steps/epochs left as asked (parsed with it when read back). */
export const hyperparametersSchema = z.object({
  training_steps: z.number().nullable(),
  learning_rate: z.number(),
  weight_decay: z.number(),
  warmup_fraction: z.number(),
  epochs: z.number().nullable(),
  seq_len: z.number().nullable(),
  /** Accepted for compatibility; fill-in-the-middle applies to pretraining text, not chat data, so it is not used. */
  fim_ratio: z.number().nullable(),
  lora_rank: z.number(),
  batch_size: z.number(),
  /** Vision bases: also train the projector / the encoder in full (null: the base model's default, docs/vision.md). */
  train_projector: z.boolean().nullish(),
  train_vision_encoder: z.boolean().nullish(),
});
export type Hyperparameters = z.infer<typeof hyperparametersSchema>;

/** Mistral's request fields (all optional/nullable) plus the extensions: the create request's `hyperparameters`. */
export const hyperparametersInputSchema = z.object({
  training_steps: z.int().positive().nullish(), learning_rate: z.number().min(1e-8).max(1).nullish(), weight_decay: z.number().min(0).nullish(),
  warmup_fraction: z.number().min(0).max(1).nullish(), epochs: z.number().positive().nullish(), seq_len: z.int().min(100).nullish(),
  fim_ratio: z.number().min(0).max(1).nullish().describe('accepted; not used (fill-in-the-middle applies to code pretraining, not chat data)'),
  lora_rank: z.int().min(1).max(1024).nullish().describe('Atelier extension: LoRA rank (default 16)'),
  batch_size: z.int().min(1).max(1024).nullish().describe('Atelier extension: sequences per step (default 1)'),
  train_projector: z.boolean().nullish().describe("Atelier extension, vision bases: also train the vision-language projector in full (default: the base model's; false for pretrained bases, docs/vision.md)"),
  train_vision_encoder: z.boolean().nullish().describe("Atelier extension, vision bases: also train the vision encoder in full (default: the base model's; false for pretrained bases, docs/vision.md)"),
});
export type HyperparametersInput = z.infer<typeof hyperparametersInputSchema>;

/** Mistral's defaults (SDK: learning_rate 1e-4; mistral-finetune: weight_decay 0.1, pct_start 0.05, LoRA rank 16). */
export const hyperparameterDefaults = {
  learning_rate: 1e-4,
  weight_decay: 0.1,
  warmup_fraction: 0.05,
  lora_rank: 16,
  batch_size: 1,
  /** mistral-finetune's default seq_len, capped at the base model's context. */
  seq_len: 2048,
} as const;

/** Fills the defaults of a Mistral-dialect hyperparameters object. */
export function normalizeHyperparameters(input: HyperparametersInput = {}): Hyperparameters {
  return {
    training_steps: input.training_steps ?? null,
    learning_rate: input.learning_rate ?? hyperparameterDefaults.learning_rate,
    weight_decay: input.weight_decay ?? hyperparameterDefaults.weight_decay,
    warmup_fraction: input.warmup_fraction ?? hyperparameterDefaults.warmup_fraction,
    epochs: input.epochs ?? null,
    seq_len: input.seq_len ?? null,
    fim_ratio: input.fim_ratio ?? null,
    lora_rank: input.lora_rank ?? hyperparameterDefaults.lora_rank,
    batch_size: input.batch_size ?? hyperparameterDefaults.batch_size,
    train_projector: input.train_projector ?? null,
    train_vision_encoder: input.train_vision_encoder ?? null,
  };
}

const auto = z.union([z.literal('auto'), z.number().positive()]).nullish();
/** OpenAI's `hyperparameters` (and `method.supervised.hyperparameters`). */
export const openAIHyperparametersInputSchema = z.object({ n_epochs: z.union([z.literal('auto'), z.int().min(1).max(50)]).nullish(), batch_size: auto, learning_rate_multiplier: auto });
export type OpenAIHyperparametersInput = z.infer<typeof openAIHyperparametersInputSchema>;

/**
 * OpenAI → Mistral: n_epochs → epochs, batch_size → batch_size, learning_rate_multiplier × 1e-4 →
 * learning_rate; "auto" means Atelier's default for that field.
 */
export function fromOpenAIHyperparameters(input: OpenAIHyperparametersInput = {}): Hyperparameters {
  const pick = (v: 'auto' | number | null | undefined) => (typeof v === 'number' ? v : null);
  const multiplier = pick(input.learning_rate_multiplier);
  return normalizeHyperparameters({
    epochs: pick(input.n_epochs),
    batch_size: pick(input.batch_size),
    learning_rate: multiplier === null ? null : multiplier * hyperparameterDefaults.learning_rate,
  });
}

/** What the trainer runs: every value resolved against the data and the base model. */
export type TrainingPlan = {
  training_steps: number;
  epochs: number;
  seq_len: number;
  train_tokens_per_step: number;
  train_tokens: number;
  data_tokens: number;
};

/**
 * Resolves steps and epochs from the data: training_steps wins; else epochs × data_tokens over the
 * tokens per step (rounded up); else one epoch. Throws when seq_len exceeds the model's context.
 */
export function planTraining(h: Hyperparameters, dataTokens: number, maxSeqLen: number): TrainingPlan {
  const seqLen = h.seq_len ?? Math.min(hyperparameterDefaults.seq_len, maxSeqLen);
  if (seqLen > maxSeqLen) {
    throw new RangeError(`seq_len ${seqLen} exceeds the base model's context of ${maxSeqLen} tokens; use seq_len ≤ ${maxSeqLen}`);
  }
  const perStep = seqLen * h.batch_size;
  const epochsWanted = h.epochs ?? 1;
  const steps = h.training_steps ?? Math.max(1, Math.ceil((epochsWanted * dataTokens) / perStep));
  const trainTokens = steps * perStep;
  return {
    training_steps: steps,
    epochs: dataTokens > 0 ? round(trainTokens / dataTokens, 4) : 0,
    seq_len: seqLen,
    train_tokens_per_step: perStep,
    train_tokens: trainTokens,
    data_tokens: dataTokens,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Upper bounds a job's request must respect (settings jobMax*). */
export type HyperparameterLimits = { maxLearningRate: number; maxEpochs: number; maxTrainingSteps: number; maxBatchSize: number };

/** A refused value: the request field (in the caller's dialect) and what to change. */
export type BoundProblem = { param: string; message: string };

// Seeds reach numpy's and torch's generators; numpy's legacy seeding takes 0 ≤ seed < 2^32.
const maxSeed = 2 ** 32 - 1;

/**
 * The first hyperparameter (or seed) out of bounds, named as the caller's dialect spells it, or
 * null. Catches what would fail or run wrong later: a learning rate that diverges (10, 1e308),
 * epochs that overflow the step count (1e308 trained one step and reported SUCCESS), a step count
 * that holds the only worker for ever (2^53), a fractional or huge batch, a negative seed.
 */
export function hyperparameterProblem(h: Hyperparameters, seed: number | null, dialect: 'mistral' | 'openai', limits: HyperparameterLimits): BoundProblem | null {
  const openai = dialect === 'openai';
  const name = (mistral: string, openaiName: string) => `hyperparameters.${openai ? openaiName : mistral}`;
  if (h.learning_rate > limits.maxLearningRate) {
    const asked = openai ? `learning_rate_multiplier ${h.learning_rate / hyperparameterDefaults.learning_rate}` : `learning_rate ${h.learning_rate}`;
    const most = openai ? `${limits.maxLearningRate / hyperparameterDefaults.learning_rate}` : `${limits.maxLearningRate}`;
    return { param: name('learning_rate', 'learning_rate_multiplier'), message: `${asked} is above the most allowed, ${most} (setting jobMaxLearningRate); LoRA fine-tuning uses about 1e-4.` };
  }
  if (h.epochs !== null && h.epochs > limits.maxEpochs) return { param: name('epochs', 'n_epochs'), message: `${openai ? 'n_epochs' : 'epochs'} ${h.epochs} is above the most allowed, ${limits.maxEpochs} (setting jobMaxEpochs).` };
  if (h.training_steps !== null && h.training_steps > limits.maxTrainingSteps) {
    return { param: name('training_steps', 'training_steps'), message: `training_steps ${h.training_steps} is above the most allowed, ${limits.maxTrainingSteps} (setting jobMaxTrainingSteps).` };
  }
  if (!Number.isInteger(h.batch_size) || h.batch_size < 1 || h.batch_size > limits.maxBatchSize) {
    return { param: name('batch_size', 'batch_size'), message: `batch_size ${h.batch_size} must be a whole number from 1 to ${limits.maxBatchSize} (setting jobMaxBatchSize).` };
  }
  if (seed !== null && (!Number.isInteger(seed) || seed < 0 || seed > maxSeed)) return { param: 'seed', message: `seed ${seed} must be a whole number from 0 to ${maxSeed}.` };
  return null;
}
