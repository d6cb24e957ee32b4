/**
 * The shapes of the API replies the console reads, parsed once where they enter (api.ts). Only the
 * fields the pages use are listed; `.loose()` keeps the rest, so a server with more fields still works.
 */
import { z } from 'zod';

const dataError = z.object({ line: z.number(), code: z.string(), message: z.string() });
const stats = z.object({
  samples: z.number(), sample_bytes: z.number(), chat_samples: z.number(), classifier_samples: z.number(), turns: z.number(),
  assistant_turns: z.number(), assistant_turns_trained: z.number(), tool_calls: z.number(), images: z.number(),
  longest_sample: z.object({ line: z.number(), bytes: z.number() }).nullable(),
  tokens: z.number().nullable(), trained_tokens: z.number().nullable(),
  labels: z.record(z.string(), z.record(z.string(), z.number())),
}).loose();
export const validationReport = z.object({
  lines: z.number(), valid_lines: z.number(), error_count: z.number(), errors: z.array(dataError),
  errors_truncated: z.boolean().optional(), format: z.string().nullable(), stats,
}).loose();
export type ValidationReport = z.infer<typeof validationReport>;
/** A validation that could not run at all stores only `{error}`. */
const validationCrash = z.object({ error: z.string() });

export const fileObject = z.object({
  id: z.string(), bytes: z.number(), created_at: z.number(), filename: z.string(), purpose: z.string(),
  num_lines: z.number().nullable(), status: z.string(), validation: z.union([validationReport, validationCrash]).nullable(),
}).loose();
export type FileObject = z.infer<typeof fileObject>;
export const fileList = z.object({ data: z.array(fileObject), total: z.number().nullable() });
export const deletedReply = z.object({ id: z.string(), deleted: z.boolean() }).loose();

export const jobStatuses = ['QUEUED', 'STARTED', 'VALIDATING', 'VALIDATED', 'RUNNING', 'FAILED_VALIDATION', 'FAILED', 'SUCCESS', 'CANCELLED', 'CANCELLATION_REQUESTED'] as const;
export type JobStatus = (typeof jobStatuses)[number];
const num = z.number().nullable().optional();
const metadata = z.object({
  expected_duration_seconds: num, cost: num, cost_currency: z.string().nullable().optional(), train_tokens_per_step: num,
  train_tokens: num, data_tokens: num, estimated_start_time: num, epochs: num, training_steps: num,
}).loose();
const statusEvent = z.object({ name: z.string(), data: z.record(z.string(), z.unknown()).nullable(), created_at: z.number() });
const checkpoint = z.object({ metrics: z.record(z.string(), z.number().nullable()), step_number: z.number(), created_at: z.number() });
export const job = z.object({
  id: z.string(), status: z.enum(jobStatuses), model: z.string(), job_type: z.string(), auto_start: z.boolean(),
  created_at: z.number(), modified_at: z.number().nullable().optional(), training_files: z.array(z.string()), validation_files: z.array(z.string()).nullable().optional(),
  fine_tuned_model: z.string().nullable(), suffix: z.string().nullable(), trained_tokens: z.number().nullable(),
  metadata: metadata.nullable(), hyperparameters: z.record(z.string(), z.unknown()),
  events: z.array(statusEvent).optional(), checkpoints: z.array(checkpoint).optional(),
}).loose();
export type Job = z.infer<typeof job>;
export const jobList = z.object({ data: z.array(job), total: z.number() });

export const jobEvent = z.object({ id: z.string(), created_at: z.number(), level: z.string(), message: z.string(), type: z.string(), data: z.record(z.string(), z.unknown()).nullable() });
export type JobEvent = z.infer<typeof jobEvent>;
export const eventPage = z.object({ data: z.array(jobEvent), has_more: z.boolean() });

/** One optimizer step or evaluation of GET /v1/fine_tuning/jobs/{id}/metrics. */
export const metricPoint = z.object({
  step: z.number(), epoch: num, train_loss: num, train_accuracy: num, learning_rate: num, grad_norm: num,
  tokens_per_second: num, trained_tokens: num, valid_loss: num, valid_mean_token_accuracy: num,
}).loose();
export type MetricPoint = z.infer<typeof metricPoint>;
export const metricSeries = z.object({ data: z.array(metricPoint), downsampled: z.boolean().optional() });

export const modelCard = z.object({
  id: z.string(), created: z.number(), type: z.enum(['base', 'fine-tuned']), capabilities: z.record(z.string(), z.boolean()),
  name: z.string().nullable().optional(), description: z.string().nullable().optional(), job: z.string().nullable().optional(),
  root: z.string().nullable().optional(), archived: z.boolean().optional(),
}).loose();
export type ModelCard = z.infer<typeof modelCard>;
export const modelList = z.object({ data: z.array(modelCard) });
export const archivedReply = z.object({ id: z.string(), archived: z.boolean() });
export const anyObject = z.record(z.string(), z.unknown());

const toolCallDelta = z.object({ index: z.number().optional(), id: z.string().nullable().optional(), function: z.object({ name: z.string().nullable().optional(), arguments: z.string().nullable().optional() }).optional() });
/** A streamed chat chunk (both dialects' superset). */
export const chatChunk = z.object({
  choices: z.array(z.object({ index: z.number(), delta: z.object({ content: z.string().nullable().optional(), tool_calls: z.array(toolCallDelta).nullable().optional() }).loose(), finish_reason: z.string().nullable().optional() })),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).loose().nullable().optional(),
}).loose();
export type ChatChunk = z.infer<typeof chatChunk>;

/** POST /v1/classifications: per input, target → label scores. */
export const classification = z.object({ model: z.string(), results: z.array(z.record(z.string(), z.object({ scores: z.record(z.string(), z.number()) }))) });
