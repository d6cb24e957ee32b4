/**
 * Checking a large dataset file on several threads: the file is cut at line starts into byte
 * ranges of about `chunkBytes`; this thread and `threads - 1` worker threads (check-worker.ts)
 * each take the next range, and the checked lines come back in file order with file line numbers,
 * so the caller sees exactly what a single-threaded pass yields. Only the facts the report needs
 * cross threads (the parsed sample stays where it was parsed).
 */
import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { ByteRange } from './line-reader.ts';

export type ParallelOptions = {
  /** Threads in all, this one included (1: no workers). */
  threads: number;
  /** The tokenizer file each worker loads when tokens are counted. */
  tokenizerPath?: string;
  /** Size of each range handed to a thread (default 4 MB). */
  chunkBytes?: number;
};

/** What a worker needs to check ranges like this thread does: plain, cloneable values. */
export type WorkerSetup = { path: string; options: Record<string, unknown>; tokenizerPath?: string };

type Numbered = { line: number };
type CheckRange<T> = (range: ByteRange) => AsyncIterable<T>;

const DEFAULT_CHUNK = 4 << 20;
const WORKER_MODULE = new URL('./check-worker.ts', import.meta.url).href;
/**
 * Defined by the compiled CLI's build (bin/compiled-cli.js): the worker as plain JavaScript, which
 * starts without tsx (~0.65 CPU s less per worker). Undefined when running through tsx.
 */
declare const ATELIER_COMPILED_WORKER: string | undefined;
const compiledWorker = typeof ATELIER_COMPILED_WORKER === 'string' ? ATELIER_COMPILED_WORKER : undefined;
// Workers do not inherit the TypeScript loader the process started with: register tsx first.
const BOOTSTRAP = `const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((m) => { m.register(); return import(workerData.module); });`;

/** Offsets that cut the file into ranges of about `chunk` bytes, each ending just after a newline. */
export async function lineRanges(path: string, size: number, chunk: number): Promise<ByteRange[]> {
  const ranges: ByteRange[] = [];
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64 << 10);
    let start = 0;
    while (start < size) {
      let end = Math.min(size, start + chunk);
      while (end < size) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, end);
        const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
        if (nl >= 0) {
          end += nl + 1;
          break;
        }
        end += bytesRead;
        if (bytesRead === 0) end = size;
      }
      ranges.push({ start, end: Math.min(end, size) });
      start = Math.min(end, size);
    }
  } finally {
    await fh.close();
  }
  return ranges;
}

/** A worker that checks one range per request. */
class RangeWorker<T> {
  private readonly worker: Worker;
  private pending: { ok: (v: T[]) => void; fail: (e: Error) => void } | null = null;

  constructor(setup: WorkerSetup) {
    if (compiledWorker) this.worker = new Worker(new URL(compiledWorker), { workerData: setup });
    else this.worker = new Worker(BOOTSTRAP, { eval: true, workerData: { ...setup, tsx: import.meta.resolve('tsx/esm/api'), module: WORKER_MODULE } });
    this.worker.on('message', (m: { lines?: T[]; error?: { message: string; code?: string } }) => {
      const p = this.pending;
      this.pending = null;
      if (m.lines) p?.ok(m.lines);
      else p?.fail(Object.assign(new Error(m.error?.message ?? 'worker failed'), { code: m.error?.code }));
    });
    this.worker.on('error', (e) => {
      this.pending?.fail(e);
      this.pending = null;
    });
  }

  check(range: ByteRange): Promise<T[]> {
    return new Promise((ok, fail) => {
      this.pending = { ok, fail };
      this.worker.postMessage(range);
    });
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * Yields the checked lines of the whole file in order. `local` checks a range on this thread;
 * `setup` lets each worker do the same. Ranges are claimed in order; finished ones wait (at most
 * a few per thread) until every range before them is out.
 */
export async function* checkRangesInParallel<T extends Numbered>(
  size: number, par: ParallelOptions, setup: WorkerSetup, local: CheckRange<T>,
): AsyncGenerator<T> {
  const ranges = await lineRanges(setup.path, size, par.chunkBytes ?? DEFAULT_CHUNK);
  const done = new Map<number, T[]>();
  let next = 0;
  let failure: unknown = null;
  const waiters: (() => void)[] = [];
  const changed = () => new Promise<void>((ok) => waiters.push(ok));
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const workers = Array.from({ length: Math.min(par.threads, ranges.length) - 1 }, () => new RangeWorker<T>(setup));
  const lookahead = 2 * par.threads;
  let want = 0;
  const runs = workers.map(async (w) => {
    while (next < ranges.length && failure === null) {
      if (next > want + lookahead) {
        await changed();
        continue;
      }
      const i = next++;
      try {
        done.set(i, await w.check(ranges[i] as ByteRange));
      } catch (e) {
        failure = e;
      }
      wake();
    }
  });
  try {
    let base = 0;
    for (; want < ranges.length; want++) {
      while (!done.has(want)) {
        if (failure !== null) throw failure;
        if (next < ranges.length) {
          const i = next++;
          done.set(i, await collect(local(ranges[i] as ByteRange)));
        } else await changed();
      }
      const lines = done.get(want) as T[];
      done.delete(want);
      wake();
      for (const c of lines) {
        c.line += base;
        yield c;
      }
      base += lines.length;
    }
  } finally {
    failure ??= 'stopped';
    wake();
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.allSettled(runs);
  }
}
