/** The trainer's stdout protocol (docs/contracts.md), parsed with zod where it enters. */
import { z } from 'zod';

const num = z.number();
const nullableNum = z.number().nullable();

const trainerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('started'), total_steps: num, resumed_from_step: num, device: z.string(), trainable_params: num,
    // Ranks of the run and how they share it (trainer/distributed.py); recipes that run in one process may leave them out.
    ranks: z.number().int().positive().optional(), parallel: z.enum(['none', 'ddp', 'fsdp']).optional(),
  }),
  z.object({
    type: z.literal('progress'), step: num, total_steps: num, loss: nullableNum, lr: num, grad_norm: nullableNum.optional(),
    tokens_per_s: num, trained_tokens: num,
  }),
  z.object({
    type: z.literal('checkpoint'), step: num, path: z.string(),
    metrics: z.object({
      train_loss: nullableNum, valid_loss: nullableNum, valid_mean_token_accuracy: nullableNum,
      // Classifier recipe extension (docs/classifiers.md): per-target validation accuracy and macro F1.
      classifier: z.record(z.string(), z.object({ accuracy: num, macro_f1: num })).nullish(),
    }),
  }),
  z.object({ type: z.literal('done'), step: num, trained_tokens: num, adapter_dir: z.string() }),
  z.object({ type: z.literal('stopped'), step: num }),
  z.object({ type: z.literal('error'), message: z.string(), kind: z.string() }),
]);
export type TrainerMessage = z.infer<typeof trainerMessageSchema>;

/** Parses one stdout line; a line that is not a protocol message becomes null (and is logged by the caller). */
export function parseTrainerLine(line: string): TrainerMessage | null {
  try {
    const parsed = trainerMessageSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : null;
  } catch (err) {
    if (err instanceof SyntaxError) return null;
    throw err;
  }
}
