/**
 * One serving engine process (`python -m trainer.serve`) for one base model, serving generation
 * and classification (the `classify` op): spawns it on first use, routes its stdout lines to the
 * requests in flight, and when it dies answers every request in flight with an error (never a
 * hang); the next request starts a fresh process.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  parseEngineLine,
  type ClassifyEvent,
  type EngineEvent,
  type EngineOp,
  type GenerateOp,
  type RequestEvent,
} from './engine-protocol.ts';
import type { TokenMask } from './token-mask.ts';

export type EngineOptions = {
  python: string;
  cwd: string; // the checkout root, where the `trainer` package is
  modelDir: string;
  device: string;
  maxAdapters: number;
  maxBatch: number;
  maxSeqLen: number;
  threads: number; // 0: PyTorch's default
};

export type GenerateParams = Omit<GenerateOp, 'id' | 'op'>;

/** A request in flight: per-choice masks for constrained decoding, and cancellation. */
export type EngineRequest = {
  id: string;
  mask(index: number, mask: TokenMask): void;
  free(index: number): void;
  /** Stops every choice, or only choice `index`. */
  cancel(index?: number): void;
};

type Pending = { onEvent: (e: RequestEvent | ClassifyEvent) => void; open: number };

const STDERR_KEPT = 4000;

export class Engine {
  readonly options: EngineOptions;
  #proc: ChildProcessWithoutNullStreams | null = null;
  #pending = new Map<string, Pending>();
  #nextId = 0;
  #stderr = '';
  #lastError = '';
  #closing = false;
  /** Times the process was started (a restart after a crash counts). */
  starts = 0;

  constructor(options: EngineOptions) {
    this.options = options;
  }

  /** The running process id, if any (tests kill it to check crash handling). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Number of requests in flight. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends a generation request; `onEvent` gets its tokens, each choice's done, or one error. */
  generate(params: GenerateParams, onEvent: (e: RequestEvent) => void): EngineRequest {
    const id = `r${++this.#nextId}`;
    this.#pending.set(id, { onEvent: (e) => e.type !== 'scores' && onEvent(e), open: params.n });
    this.#send({ id, op: 'generate', ...params });
    return {
      id,
      mask: (index, mask) => this.#send({ id, op: 'mask', index, ...mask }),
      free: (index) => this.#send({ id, op: 'mask', index, free: true }),
      cancel: (index) => {
        const pending = this.#pending.get(id);
        if (!pending) return;
        if (index === undefined || --pending.open === 0) this.#pending.delete(id);
        this.#send(index === undefined ? { id, op: 'cancel' } : { id, op: 'cancel', index });
      },
    };
  }

  /** Sends a classify request (token ids per input, a classifier adapter); `onEvent` gets the scores or one error. */
  classify(adapter: string, inputs: number[][], onEvent: (e: ClassifyEvent) => void): void {
    const id = `c${++this.#nextId}`;
    this.#pending.set(id, { onEvent: (e) => (e.type === 'scores' || e.type === 'error') && onEvent(e), open: 1 });
    this.#send({ id, op: 'classify', adapter, inputs });
  }

  /** Stops the process (closing stdin lets it finish its loop); resolves once it has exited. */
  async close(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#closing = true;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.stdin.end();
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.#closing = false;
  }

  #send(op: EngineOp): void {
    const proc = this.#proc ?? this.#start();
    if (proc.stdin.writable) proc.stdin.write(JSON.stringify(op) + '\n');
  }

  #start(): ChildProcessWithoutNullStreams {
    const o = this.options;
    const args = ['-m', 'trainer.serve', '--model-dir', o.modelDir, '--device', o.device,
      '--max-adapters', String(o.maxAdapters), '--max-batch', String(o.maxBatch),
      '--max-seq-len', String(o.maxSeqLen), '--threads', String(o.threads)];
    const proc = spawn(o.python, args, { cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#proc = proc;
    this.starts++;
    this.#stderr = '';
    this.#lastError = '';
    createInterface({ input: proc.stdout }).on('line', (line) => this.#onLine(line));
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_KEPT);
    });
    // A write after the process died raises EPIPE here; the exit handler answers the requests.
    proc.stdin.on('error', () => undefined);
    proc.on('error', (err) => this.#onExit(proc, `could not start ${o.python}: ${err.message}`));
    proc.on('exit', (code, signal) => this.#onExit(proc, `exited with ${signal ?? `code ${code}`}`));
    return proc;
  }

  #onLine(line: string): void {
    const event = parseEngineLine(line);
    if (!event) {
      this.#stderr = (this.#stderr + `\n[stdout] ${line}`).slice(-STDERR_KEPT);
      return;
    }
    this.#route(event);
  }

  #route(event: EngineEvent): void {
    if (event.type === 'ready') return;
    if (event.type === 'error' && event.id === null) {
      this.#lastError = event.message;
      return;
    }
    const pending = this.#pending.get(event.id as string);
    if (!pending) return; // cancelled
    if (event.type === 'error') {
      this.#pending.delete(event.id as string);
      pending.onEvent({ type: 'error', message: event.message });
      return;
    }
    if ((event.type === 'done' && --pending.open === 0) || event.type === 'scores') this.#pending.delete(event.id);
    pending.onEvent(event);
  }

  #onExit(proc: ChildProcessWithoutNullStreams, how: string): void {
    if (this.#proc !== proc) return;
    this.#proc = null;
    if (this.#closing && this.#pending.size === 0) return;
    const why = this.#lastError || this.#stderr.trim().split('\n').slice(-3).join(' | ');
    const message = `the serving engine for ${this.options.modelDir} ${how}${why ? `: ${why}` : ''}; it restarts on the next request`;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.onEvent({ type: 'error', message });
  }
}
