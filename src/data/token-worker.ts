/**
 * Worker-thread entry for parallel token counting (token-workers.ts): loads the tokenizer named in
 * workerData, then answers each batch of valid sample lines with their token counts, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';
import { excerpt } from './errors.ts';
import { loadTokenCounter } from './token-counter.ts';
import type { Obj } from './message-rules.ts';

const init = z.object({ tokenizerPath: z.string() }).parse(workerData);
const request = z.object({ id: z.number(), texts: z.array(z.string()), formats: z.array(z.enum(['chat', 'classifier'])) });
const count = await loadTokenCounter(init.tokenizerPath);
const port = parentPort;
if (!port) throw new Error('token-worker.ts must run in a worker thread');

port.on('message', (msg: unknown) => {
  const { id, texts, formats } = request.parse(msg);
  // [tokens, trained] per line, or a message when the tokenizer failed on it (-1 in tokens).
  const tokens = new Float64Array(texts.length);
  const trained = new Float64Array(texts.length);
  const errors: (string | null)[] = [];
  texts.forEach((text, i) => {
    try {
      // The main thread already validated the line: it parses to an object.
      const r = count(JSON.parse(text) as Obj, formats[i] ?? 'chat');
      tokens[i] = r.tokens;
      trained[i] = r.trained;
      errors.push(null);
    } catch (err) {
      tokens[i] = -1;
      errors.push(err instanceof Error ? err.message : excerpt(err));
    }
  });
  port.postMessage({ id, tokens, trained, errors }, [tokens.buffer, trained.buffer]);
});
port.postMessage({ ready: true });
