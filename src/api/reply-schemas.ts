/**
 * The replies of the jobs, models and chat routes as zod schemas, for the served OpenAPI document
 * (`config.docs.response`). They are strict (no undeclared keys) so the document names every field
 * a route returns; test/e2e/openapi-conformance.test.ts validates a captured reply of every
 * operation against them. Where the two dialects differ the schema is their union.
 */
import { z } from 'zod';
import { jobStatuses } from '../jobs/index.ts';

const num = z.number().nullable();
const int = z.int().nullable();
const str = z.string().nullable();
const classifierTarget = z.object({ name: z.string(), labels: z.array(z.string()), weight: z.number(), loss_function: z.enum(['single_class', 'multi_class']) });

// ---- fine-tuning jobs, Mistral (reference §2.2) ----

const mistralHyperparameters = z.object({
  training_steps: int.optional(), learning_rate: num.optional(), weight_decay: num.optional(), warmup_fraction: num.optional(),
  epochs: num.optional(), seq_len: int.optional(), fim_ratio: num.optional(), lora_rank: int.optional(), batch_size: int.optional(),
  train_projector: z.boolean().nullish(), train_vision_encoder: z.boolean().nullish(),
});
const jobMetadata = z.object({
  expected_duration_seconds: int, cost: num, cost_currency: str, train_tokens_per_step: int, train_tokens: int, data_tokens: int,
  estimated_start_time: int, epochs: num, training_steps: int,
  /** Atelier: dataset lines dropped under invalid_sample_skip_percentage (never silent). */
  skipped_lines: int.optional(),
});
const mistralJob = z.object({
  id: z.string(), object: z.literal('job'), auto_start: z.boolean(), model: z.string(), status: z.enum(jobStatuses),
  job_type: z.enum(['completion', 'classifier']), created_at: z.int(), modified_at: z.int(), training_files: z.array(z.string()),
  validation_files: z.array(z.string()), fine_tuned_model: str, suffix: str,
  integrations: z.array(z.object({ type: z.literal('wandb'), project: z.string(), name: str, run_name: str, url: str })),
  trained_tokens: int, metadata: jobMetadata, hyperparameters: mistralHyperparameters,
  repositories: z.array(z.object({ type: z.literal('github'), name: z.string(), owner: z.string(), ref: str.optional(), weight: num.optional(), commit_id: z.string() })).optional()
    .describe('completion jobs only'),
});
const mistralJobDetails = mistralJob.extend({
  events: z.array(z.object({ name: z.string(), data: z.record(z.string(), z.unknown()).nullable(), created_at: z.int() })),
  checkpoints: z.array(z.object({
    metrics: z.object({
      train_loss: num, valid_loss: num, valid_mean_token_accuracy: num,
      classifier: z.record(z.string(), z.object({ accuracy: num, macro_f1: num })).nullable().optional().describe('classifier jobs: validation metrics per target'),
    }),
    step_number: z.int(), created_at: z.int(),
  })),
  classifier_targets: z.array(classifierTarget).optional().describe('classifier jobs only'),
});

// ---- fine-tuning jobs, OpenAI (reference §6.2) ----

const openAIHyperparameters = z.object({
  n_epochs: z.union([z.int(), z.literal('auto')]), batch_size: z.union([z.number(), z.literal('auto')]), learning_rate_multiplier: z.number(),
});
const openAIJob = z.object({
  id: z.string(), object: z.literal('fine_tuning.job'), created_at: z.int(), finished_at: int,
  error: z.object({ code: z.string(), message: z.string(), param: str }).nullable(), fine_tuned_model: str, hyperparameters: openAIHyperparameters,
  model: z.string(), organization_id: z.string(), result_files: z.array(z.string()), seed: z.int(),
  status: z.enum(['validating_files', 'queued', 'running', 'succeeded', 'failed', 'cancelled']), trained_tokens: int, training_file: str,
  validation_file: str, estimated_finish: int,
  integrations: z.array(z.object({ type: z.literal('wandb'), wandb: z.object({ project: z.string(), name: str, entity: str, tags: z.array(z.string()) }) })),
  metadata: z.record(z.string(), z.string()).nullable(),
  method: z.object({ type: z.literal('supervised'), supervised: z.object({ hyperparameters: openAIHyperparameters }) }),
});

/** `dry_run=true` (official LegacyJobMetadataOut). */
export const dryRunReply = jobMetadata.extend({ object: z.literal('job.metadata'), deprecated: z.boolean(), details: z.string() });
export const jobReply = z.union([mistralJob, openAIJob]).describe('Mistral job (object "job") or OpenAI fine_tuning.job, by dialect');
export const jobCreateReply = z.union([mistralJob, openAIJob, dryRunReply]);
export const jobDetailsReply = z.union([mistralJobDetails, openAIJob]);
export const jobListReply = z.object({ object: z.literal('list'), data: z.array(jobReply), total: z.int(), has_more: z.boolean() });

export const jobEventsReply = z.object({
  object: z.literal('list'), has_more: z.boolean(),
  data: z.array(z.object({
    id: z.string(), object: z.literal('fine_tuning.job.event'), created_at: z.int(), level: z.enum(['info', 'warn', 'error']), message: z.string(),
    type: z.enum(['message', 'metrics']), data: z.record(z.string(), z.unknown()),
  })),
});
export const jobCheckpointsReply = z.object({
  object: z.literal('list'), has_more: z.boolean(),
  data: z.array(z.object({
    id: z.string(), object: z.literal('fine_tuning.job.checkpoint'), created_at: z.int(), fine_tuned_model_checkpoint: z.string(),
    fine_tuning_job_id: z.string(), step_number: z.int(),
    metrics: z.object({
      step: z.int(), train_loss: num, train_mean_token_accuracy: num, valid_loss: num, valid_mean_token_accuracy: num, full_valid_loss: num,
      full_valid_mean_token_accuracy: num,
    }),
  })),
});

// ---- models (reference §3, §6.4) ----

const capabilities = z.object({
  completion_chat: z.boolean(), function_calling: z.boolean(), completion_fim: z.boolean(), fine_tuning: z.boolean(), vision: z.boolean(),
  classification: z.boolean(), moderation: z.boolean(), reasoning: z.boolean(), ocr: z.boolean(), audio: z.boolean(),
});
const fineTunedCapabilities = z.object({
  completion_chat: z.boolean(), completion_fim: z.boolean(), function_calling: z.boolean(), fine_tuning: z.boolean(), classification: z.boolean(),
});

const cardCommon = {
  id: z.string(), object: z.literal('model'), created: z.int(), owned_by: z.string(), capabilities, name: str, description: str,
  max_context_length: z.int(), aliases: z.array(z.string()), deprecation: str,
};
const baseCard = z.object({ ...cardCommon, type: z.literal('base'), default_model_temperature: num, hf_repo_id: z.string().optional().describe('Atelier extension: the Hugging Face repo id of a base model from the hub cache') });
const fineTunedCard = z.object({ ...cardCommon, type: z.literal('fine-tuned'), job: z.string(), root: z.string(), archived: z.boolean() });
export const modelCardReply = z.union([baseCard, fineTunedCard]);
export const modelListReply = z.object({ object: z.literal('list'), data: z.array(modelCardReply) });
export const fineTunedModelReply = z.object({
  id: z.string(), object: z.literal('model'), created: z.int(), owned_by: z.string(), workspace_id: z.string(), root: z.string(),
  root_version: z.string(), archived: z.boolean(), name: str, description: str, capabilities: fineTunedCapabilities, max_context_length: z.int(),
  aliases: z.array(z.string()), job: z.string(), model_type: z.enum(['completion', 'classifier']),
  classifier_targets: z.array(classifierTarget).optional().describe('classifier models only'),
});

// ---- chat completions (reference §5.2, §6.3) ----

const toolCall = z.object({
  id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }), index: z.int(),
});
const finishReason = z.enum(['stop', 'length', 'tool_calls', 'error']);
const usage = z.object({ prompt_tokens: z.int(), completion_tokens: z.int(), total_tokens: z.int() });
const messageCommon = { role: z.literal('assistant'), content: str, tool_calls: z.array(toolCall).nullable() };
const mistralChoice = z.object({ index: z.int(), message: z.object({ ...messageCommon, prefix: z.boolean() }), finish_reason: finishReason });
const openAIChoice = z.object({ index: z.int(), message: z.object({ ...messageCommon, refusal: z.null() }), finish_reason: finishReason, logprobs: z.null() });
const completionCommon = { id: z.string(), object: z.literal('chat.completion'), created: z.int(), model: z.string(), usage };
export const chatCompletionReply = z.union([
  z.object({ ...completionCommon, choices: z.array(mistralChoice) }).describe('Mistral dialect'),
  z.object({ ...completionCommon, choices: z.array(openAIChoice) }).describe('OpenAI dialect'),
]);
