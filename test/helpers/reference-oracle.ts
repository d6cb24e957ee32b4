/** Test helper: runs oracle/encode_reference.py (mistral-common 1.12) over a batch of lines. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { venvPython } from './test-paths.ts';

export type RefLine = { tokens?: number[]; mask?: number[]; error?: string };

const oracle = join(import.meta.dirname, '..', '..', 'src', 'tokenizer', 'oracle', 'encode_reference.py');

/** One Python process for the whole batch; one result per input line. */
export function referenceEncode(file: string, lines: string[], mode: 'train' | 'serve'): RefLine[] {
  const out = execFileSync(venvPython, [oracle, '--tokenizer', file, '--mode', mode], {
    input: lines.join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  return out.trim().split('\n').map((l) => JSON.parse(l) as RefLine);
}
