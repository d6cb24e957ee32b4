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
};

export type MaskOp = { id: string; op: 'mask'; index: number } & (TokenMask | { free: true });
export type CancelOp = { id: string; op: 'cancel'; index?: number };
export type EngineOp = GenerateOp | MaskOp | CancelOp;

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
]);

export type EngineEvent = z.infer<typeof engineEventSchema>;

/** Events routed to one request: tokens, per-choice completion, or a request-wide error. */
export type RequestEvent =
  | Extract<EngineEvent, { type: 'token' }>
  | Extract<EngineEvent, { type: 'done' }>
  | { type: 'error'; message: string };

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
