/** What an export request may ask for: the query of `GET /v1/models/{id}/export` and the CLI's flags. */
import { z } from 'zod';

export const exportFormats = ['peft', 'merged-hf', 'merged-mistral', 'gguf'] as const;
export const exportDtypes = ['fp32', 'bf16', 'fp16'] as const;
export const exportQuants = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1'] as const;

export const exportOptions = z.object({
  format: z.enum(exportFormats).describe('peft: adapter package; merged-hf / merged-mistral: full weights with the adapter folded in; gguf: llama.cpp / Ollama files'),
  dtype: z.enum(exportDtypes).optional().describe('Tensor dtype of peft and merged exports; default: the base model\'s own dtype'),
  quant: z.enum(exportQuants).default('f16').describe('GGUF tensor type (gguf only)'),
});
export type ExportOptions = z.output<typeof exportOptions>;
