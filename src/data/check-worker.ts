/**
 * A worker thread of parallel-check.ts: checks the byte ranges of one file it is sent, with the
 * options and tokenizer it was started with, and posts back each range's checked lines (without
 * the parsed samples).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ByteRange } from './line-reader.ts';
import type { WorkerSetup } from './parallel-check.ts';
import type { TokenCounter } from './stats.ts';
import { loadTokenCounter } from './token-counter.ts';
import { checkLeanLines, type CheckedLine, type ValidateOptions } from './validate-file.ts';

const setup = workerData as WorkerSetup;
const port = parentPort;
// Loaded at start, while the main thread works on its first range.
const counter: Promise<TokenCounter> | undefined = setup.tokenizerPath ? loadTokenCounter(setup.tokenizerPath) : undefined;

async function checkRange(range: ByteRange): Promise<CheckedLine[]> {
  const opts: ValidateOptions = { ...(setup.options as ValidateOptions), countTokens: counter ? await counter : undefined };
  const lines: CheckedLine[] = [];
  for await (const c of checkLeanLines(setup.path, opts, range)) lines.push(c);
  return lines;
}

port?.on('message', (range: ByteRange) => {
  checkRange(range).then(
    (lines) => port.postMessage({ lines }),
    (e: unknown) => port.postMessage({ error: { message: e instanceof Error ? e.message : String(e), code: (e as NodeJS.ErrnoException).code } }),
  );
});
