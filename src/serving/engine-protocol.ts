/**
 * The serving engine's line protocol (docs/contracts.md, "Serving engine"): what we write to
 * `python -m trainer.serve` and the zod schema of every line it writes back.
 */
import { z } from 'zod';
import type { TokenMask } from './token-mask.ts';

export type GenerateOp = {
  id: string;
  op: 'generate';
  adapter: string | null;
  prompt: number[];
  max_tokens: number;
  temperature: number;
  top_p: number;
  seed: number | null;
  stop: number[];
  n: number;
  banned?: number[];
  constrained?: boolean;
  /** Base64 bytes of each image, in the order of the prompt's `[IMG]` blocks (vision models only). */
  images?: string[];
  /** The tokenizer's image settings the prompt's grids were made with; present with `images`. */
  image_settings?: { patch_size: number; max_image_size: number; spatial_merge_size: number };
};

export type MaskOp = { id: string; op: 'mask'; index: number } & (TokenMask | { free: true });
export type CancelOp = { id: string; op: 'cancel'; index?: number };
/** Scores of each input (token ids) under a fine-tuned classifier adapter (trainer/classify.py). */
export type ClassifyOp = { id: string; op: 'classify'; adapter: string; inputs: number[][] };
export type EngineOp = GenerateOp | MaskOp | CancelOp | ClassifyOp;

export const engineEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), device: z.string(), vocab_size: z.number().int(), max_seq_len: z.number().int() }),
  z.object({ type: z.literal('token'), id: z.string(), index: z.number().int(), token: z.number().int() }),
  z.object({
    type: z.literal('done'),
    id: z.string(),
    index: z.number().int(),
    finish_reason: z.enum(['stop', 'length']),
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
  }),
  z.object({ type: z.literal('error'), id: z.string().nullable(), message: z.string() }),
  z.object({ type: z.literal('scores'), id: z.string(), scores: z.array(z.record(z.string(), z.record(z.string(), z.number()))) }),
]);

export type EngineEvent = z.infer<typeof engineEventSchema>;

/** Events routed to one request: tokens, per-choice completion, or a request-wide error. */
export type RequestEvent =
  | Extract<EngineEvent, { type: 'token' }>
  | Extract<EngineEvent, { type: 'done' }>
  | { type: 'error'; message: string };

/** What a classify request gets back: one target → label → score map per input, or an error. */
export type ClassifyEvent = Extract<EngineEvent, { type: 'scores' }> | { type: 'error'; message: string };

/** Parses one stdout line; null for a line that is not a protocol message (logged by the caller). */
export function parseEngineLine(line: string): EngineEvent | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (e) {
    if (e instanceof SyntaxError) return null;
    throw e;
  }
  const parsed = engineEventSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}
