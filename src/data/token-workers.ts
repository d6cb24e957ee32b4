/**
 * Token counting on worker threads, for validate + tokenize of large files: the main thread reads
 * and validates lines and sends the valid ones in batches; each worker loads the same tokenizer and
 * answers with counts. Results are awaited in submission order, so reports are identical to the
 * single-threaded path; memory stays bounded because at most `inFlight` batches (each at most
 * BATCH_LINES lines or BATCH_BYTES bytes) are outstanding.
 */
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import type { DatasetFormat } from './validate-line.ts';

export const BATCH_LINES = 256;
export const BATCH_BYTES = 1 << 20;

export type BatchResult = { tokens: Float64Array; trained: Float64Array; errors: (string | null)[] };

const reply = z.object({
  id: z.number(),
  tokens: z.instanceof(Float64Array),
  trained: z.instanceof(Float64Array),
  errors: z.array(z.string().nullable()),
});

export class TokenWorkers {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { ok: (r: BatchResult) => void; fail: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;

  private constructor() {}

  /** Starts `n` workers that each load `tokenizerPath`; resolves when all are ready. */
  static async start(tokenizerPath: string, n: number): Promise<TokenWorkers> {
    const pool = new TokenWorkers();
    // A worker thread does not inherit the TypeScript loader of `node --import tsx`: the worker's
    // first module registers it, then imports the TypeScript entry.
    const entry = new URL('./token-worker.ts', import.meta.url).href;
    const boot = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};\nregister();\nawait import(${JSON.stringify(entry)});\n`;
    const url = new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((ready, fail) => {
      const w = new Worker(url, { workerData: { tokenizerPath } });
      pool.workers.push(w);
      w.on('message', (msg: unknown) => {
        if (z.object({ ready: z.literal(true) }).safeParse(msg).success) return ready();
        const r = reply.parse(msg);
        const p = pool.waiting.get(r.id);
        pool.waiting.delete(r.id);
        p?.ok(r);
      });
      w.on('error', (err) => {
        pool.failure = err;
        fail(err);
        for (const p of pool.waiting.values()) p.fail(err);
        pool.waiting.clear();
      });
    })));
    return pool;
  }

  /** Counts the tokens of a batch of valid lines (round-robin over the workers). */
  count(texts: string[], formats: DatasetFormat[]): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const w = this.workers[id % this.workers.length] as Worker;
    return new Promise((ok, fail) => {
      this.waiting.set(id, { ok, fail });
      w.postMessage({ id, texts, formats });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
