/**
 * Builds a TokenCounter from src/tokenizer (contract in docs/contracts.md: `loadTokenizer(path)`,
 * then `encodeChat(sample, {mode: 'train'})` → {tokens, mask}). The tokenizer module is loaded at
 * run time and its shape checked, so validation without `--tokenizer` never loads it.
 */
import { z } from 'zod';
import type { TokenCounter } from './stats.ts';
import { isObject } from './message-rules.ts';

const tokenizerModule = z.object({ loadTokenizer: z.function() });
const encoded = z.object({ tokens: z.array(z.number()), mask: z.array(z.number()) });

type Encoder = {
  encodeChat(sample: unknown, opts: { mode: 'train' }): unknown;
  encodeText(text: string, opts?: { bos?: boolean; eos?: boolean }): unknown;
};

function isEncoder(v: unknown): v is Encoder {
  return isObject(v) && typeof v.encodeChat === 'function' && typeof v.encodeText === 'function';
}

/** Loads the tokenizer file and returns a counter of (all, trained) tokens per sample; throws when it cannot. */
export async function loadTokenCounter(tokenizerPath: string): Promise<TokenCounter> {
  const spec = new URL('../tokenizer/index.ts', import.meta.url).href;
  const mod = tokenizerModule.parse(await import(spec));
  const tokenizer: unknown = await (mod.loadTokenizer as (p: string) => Promise<unknown>)(tokenizerPath);
  if (!isEncoder(tokenizer)) throw new Error(`${tokenizerPath}: the tokenizer has no encodeChat/encodeText`);
  return (sample, format) => {
    if (format === 'chat') {
      const { tokens, mask } = encoded.parse(tokenizer.encodeChat(sample, { mode: 'train' }));
      return { tokens: tokens.length, trained: mask.reduce((a, b) => a + b, 0) };
    }
    // Classifier samples: the input text (or every message's text) is what the model reads.
    const texts = typeof sample.text === 'string' ? [sample.text]
      : Array.isArray(sample.messages) ? sample.messages.map((m) => (isObject(m) && typeof m.content === 'string' ? m.content : '')) : [];
    const count = texts.reduce((n, t) => n + z.array(z.number()).parse(tokenizer.encodeText(t)).length, 0);
    return { tokens: count, trained: 0 };
  };
}
