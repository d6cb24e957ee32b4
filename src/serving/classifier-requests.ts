/**
 * Classifications and moderations (reference §4) with a fine-tuned classifier: the request
 * schemas (both SDK generations: `input`, and 1.x's `inputs`), tokenization as training did it
 * (text: BOS + text; conversation: the tokenizer's train-mode rendering), one engine call per
 * request (all inputs batched, on the base model's one engine: the same process that generates),
 * and the two response shapes. docs/classifiers.md has the rules.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { FineTunedModelRecord } from '../store/index.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { EngineFailure } from './complete-chat.ts';
import type { EnginePool } from './engine-pool.ts';

/** Per input: target → label → score. */
export type TargetScores = Record<string, Record<string, number>>;

/** A request the classifier cannot answer as sent (wrong model kind, bad conversation): a 400. */
export class ClassifierInputError extends Error {}

const message = z.object({ role: z.string(), content: z.unknown() }).loose();
const conversation = z.array(message).min(1);
const texts = z.union([z.string(), z.array(z.string()).min(1)]);

export const textClassificationSchema = z.object({ model: z.string().min(1), input: texts.optional(), inputs: texts.optional(), metadata: z.unknown().optional() }).loose();
export const chatClassificationSchema = z.object({
  model: z.string().min(1),
  input: z.union([z.object({ messages: conversation }).loose(), z.array(z.object({ messages: conversation }).loose()).min(1)]).optional(),
  inputs: z.union([z.object({ messages: conversation }).loose(), z.array(z.object({ messages: conversation }).loose()).min(1)]).optional(),
}).loose();
export const chatModerationSchema = z.object({
  model: z.string().min(1),
  input: z.union([conversation, z.array(conversation).min(1)]).optional(),
  inputs: z.union([conversation, z.array(conversation).min(1)]).optional(),
}).loose();

export type ClassifierInputs = { kind: 'text'; texts: string[] } | { kind: 'chat'; conversations: unknown[][] };

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new ClassifierInputError('the request needs "input": the text(s) or conversation(s) to classify');
  return value;
}

/** The inputs of a /v1/classifications or /v1/moderations body. */
export function textInputs(body: z.infer<typeof textClassificationSchema>): ClassifierInputs {
  const v = required(body.input ?? body.inputs);
  return { kind: 'text', texts: typeof v === 'string' ? [v] : v };
}

/** The conversations of a /v1/chat/classifications body ({messages} or a list of them). */
export function chatClassificationInputs(body: z.infer<typeof chatClassificationSchema>): ClassifierInputs {
  const v = required(body.input ?? body.inputs);
  return { kind: 'chat', conversations: (Array.isArray(v) ? v : [v]).map((c) => c.messages) };
}

/** The conversations of a /v1/chat/moderations body (one conversation or a list of them). */
export function chatModerationInputs(body: z.infer<typeof chatModerationSchema>): ClassifierInputs {
  const v = required(body.input ?? body.inputs);
  const nested = Array.isArray(v[0]);
  return { kind: 'chat', conversations: nested ? (v as unknown[][]) : [v as unknown[]] };
}

function encode(tokenizer: Tokenizer, inputs: ClassifierInputs): number[][] {
  if (inputs.kind === 'text') return inputs.texts.map((t) => tokenizer.encodeText(t, { bos: true }));
  return inputs.conversations.map((messages, i) => {
    try {
      return tokenizer.encodeChat({ messages }, { mode: 'train' }).tokens;
    } catch (err) {
      throw new ClassifierInputError(`conversation ${i}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

/** The classifier's targets as stored with the model (loss_function decides the moderation flags). */
export type ModelTarget = { name: string; labels: string[]; multi: boolean };

const storedTargets = z.array(z.object({ name: z.string(), labels: z.array(z.string()), loss_function: z.string().nullish() }).loose());

/** The targets of a fine-tuned classifier; ClassifierInputError for a completion model. */
export function classifierTargetsOf(model: FineTunedModelRecord): ModelTarget[] {
  if (model.modelType !== 'classifier') {
    throw new ClassifierInputError(`'${model.id}' is a completion model, not a classifier: classifications and moderations need a model fine-tuned with job_type "classifier"`);
  }
  return storedTargets.parse(model.classifierTargets ?? []).map((t) => ({ name: t.name, labels: t.labels, multi: t.loss_function === 'multi_class' }));
}

/** Scores of every input (one engine call for the batch). Throws ClassifierInputError / EngineFailure. */
export async function classifyInputs(pool: EnginePool, model: FineTunedModelRecord, inputs: ClassifierInputs): Promise<TargetScores[]> {
  classifierTargetsOf(model);
  const { engine, tokenizer, maxSeqLen } = await pool.target(model.baseModel, model.adapterDir);
  const ids = encode(tokenizer, inputs).map((x) => x.slice(0, maxSeqLen)); // training keeps a sample's first seq_len tokens too
  return new Promise((resolve, reject) => {
    engine.classify(model.adapterDir, ids, (e) => (e.type === 'scores' ? resolve(e.scores) : reject(new EngineFailure(e.message))));
  });
}

/** ClassificationResponse: one `{<target>: {scores: {<label>: p}}}` per input. */
export function renderClassification(modelId: string, scores: TargetScores[]): Record<string, unknown> {
  const results = scores.map((s) => Object.fromEntries(Object.entries(s).map(([target, labels]) => [target, { scores: labels }])));
  return { id: `cls-${randomBytes(12).toString('hex')}`, model: modelId, results };
}

/**
 * ModerationResponse: categories flattened over targets, named `<label>` when the model has one
 * target, else `<target>/<label>`. A single_class label is flagged when it is the target's top
 * label; a multi_class label when its score is at least 0.5.
 */
export function renderModeration(modelId: string, targets: ModelTarget[], scores: TargetScores[]): Record<string, unknown> {
  const results = scores.map((s) => {
    const categories: Record<string, boolean> = {};
    const categoryScores: Record<string, number> = {};
    for (const t of targets) {
      const labels = s[t.name] ?? {};
      const top = Math.max(...Object.values(labels));
      for (const [label, p] of Object.entries(labels)) {
        const name = targets.length === 1 ? label : `${t.name}/${label}`;
        categoryScores[name] = p;
        categories[name] = t.multi ? p >= 0.5 : p === top;
      }
    }
    return { categories, category_scores: categoryScores };
  });
  return { id: `mod-${randomBytes(12).toString('hex')}`, model: modelId, results };
}
