/**
 * Builds a TokenCounter from src/tokenizer (contract in docs/contracts.md: `loadTokenizer(path)`,
 * then `encodeChat(sample, {mode: 'train'})` → {tokens, mask}). The tokenizer module is loaded at
 * run time, so validation without `--tokenizer` never loads it. Its result is typed code of this
 * project, not an edge: it is read directly (checking every token with zod cost a tenth of the
 * validate + tokenize time).
 */
import type { TokenCounter } from './stats.ts';
import { isObject } from './message-rules.ts';

type TokenizerModule = typeof import('../tokenizer/index.ts');

/** Loads the tokenizer file and returns a counter of (all, trained) tokens per sample; throws when it cannot. */
export async function loadTokenCounter(tokenizerPath: string): Promise<TokenCounter> {
  const mod = (await import('../tokenizer/index.ts')) as TokenizerModule;
  const tokenizer = await mod.loadTokenizer(tokenizerPath);
  return (sample, format) => {
    if (format === 'chat') {
      const { tokens, mask } = tokenizer.encodeChat(sample, { mode: 'train' });
      let trained = 0;
      for (let i = 0; i < mask.length; i++) trained += mask[i] as number;
      return { tokens: tokens.length, trained };
    }
    // Classifier samples: the input text (or every message's text) is what the model reads.
    const texts = typeof sample.text === 'string' ? [sample.text]
      : Array.isArray(sample.messages) ? sample.messages.map((m) => (isObject(m) && typeof m.content === 'string' ? m.content : '')) : [];
    const count = texts.reduce((n, t) => n + tokenizer.encodeText(t).length, 0);
    return { tokens: count, trained: 0 };
  };
}
