/**
 * Test helper: no v11/v13 tekken file ships with mistral-common, so tests build one from the Nemo
 * file (a 4,000-rank vocabulary) with an explicit special-token list, as mistral-common's own tests do.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { referenceDataDir } from './test-paths.ts';

const SPECIALS = [
  '<unk>', '<s>', '</s>', '[INST]', '[/INST]', '[AVAILABLE_TOOLS]', '[/AVAILABLE_TOOLS]', '[TOOL_RESULTS]',
  '[/TOOL_RESULTS]', '[TOOL_CALLS]', '[IMG]', '<pad>', '[IMG_BREAK]', '[IMG_END]', '[PREFIX]', '[MIDDLE]',
  '[SUFFIX]', '[SYSTEM_PROMPT]', '[/SYSTEM_PROMPT]', '[TOOL_CONTENT]', '[ARGS]', '[CALL_ID]', '[THINK]', '[/THINK]',
];

/** Writes `tekken_<version>.json` into dir and returns its path. */
export function writeSyntheticTekken(dir: string, version: string): string {
  const src = JSON.parse(readFileSync(join(referenceDataDir(), 'tekken_240718.json'), 'utf8')) as {
    config: Record<string, unknown>;
    vocab: unknown[];
  };
  const file = {
    config: { ...src.config, version, default_vocab_size: 1000 + 4000, num_vocab_tokens: 4000 },
    vocab: src.vocab.slice(0, 4000),
    special_tokens: SPECIALS.map((token_str, rank) => ({ rank, token_str, is_control: true })),
  };
  const path = join(dir, `tekken_${version}.json`);
  writeFileSync(path, JSON.stringify(file));
  return path;
}
