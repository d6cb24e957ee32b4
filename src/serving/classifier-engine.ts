/**
 * The classification engines: one `python -m trainer.serve` process per base model, used only
 * for its `classify` op (docs/contracts.md; trainer/classify.py scores with the fine-tuned heads).
 * It runs with one KV-cache row (`--max-batch 1`): classification needs no cache, so the process
 * costs the base weights and little more. A request is one batch of inputs; a dead process fails
 * the requests in flight with its reason and the next request starts a fresh one.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import type { Settings } from '../settings/index.ts';
import { loadTokenizer, type Tokenizer } from '../tokenizer/index.ts';
import { repoRoot, resolveBaseModel, resolvePython } from '../models/index.ts';
import { EngineFailure } from './complete-chat.ts';

/** Per input: target → label → score. */
export type TargetScores = Record<string, Record<string, number>>;

const lineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).loose(),
  z.object({ type: z.literal('scores'), id: z.string(), scores: z.array(z.record(z.string(), z.record(z.string(), z.number()))) }),
  z.object({ type: z.literal('error'), id: z.string().nullable(), message: z.string() }),
  z.object({ type: z.enum(['token', 'done']), id: z.string() }).loose(),
]);

type Pending = { resolve: (s: TargetScores[]) => void; reject: (e: Error) => void };
type ProcessOptions = { python: string; modelDir: string; device: string; maxAdapters: number; maxSeqLen: number; threads: number };

const STDERR_KEPT = 4000;

/** One engine process for one base model. */
export class ClassifierEngine {
  readonly options: ProcessOptions;
  #proc: ChildProcessWithoutNullStreams | null = null;
  #pending = new Map<string, Pending>();
  #nextId = 0;
  #stderr = '';
  #lastError = '';

  constructor(options: ProcessOptions) {
    this.options = options;
  }

  /** Scores of each input (token ids) under the classifier adapter in `adapterDir`; throws EngineFailure. */
  classify(adapterDir: string, inputs: number[][]): Promise<TargetScores[]> {
    const id = `c${++this.#nextId}`;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const proc = this.#proc ?? this.#start();
      proc.stdin.write(JSON.stringify({ id, op: 'classify', adapter: adapterDir, inputs }) + '\n');
    });
  }

  /** Stops the process (closing stdin ends its loop); resolves once it has exited. */
  async close(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = null;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.stdin.end();
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  #start(): ChildProcessWithoutNullStreams {
    const o = this.options;
    const args = ['-m', 'trainer.serve', '--model-dir', o.modelDir, '--device', o.device, '--max-adapters', String(o.maxAdapters),
      '--max-batch', '1', '--max-seq-len', String(o.maxSeqLen), '--threads', String(o.threads)];
    const proc = spawn(o.python, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#proc = proc;
    this.#stderr = '';
    this.#lastError = '';
    createInterface({ input: proc.stdout }).on('line', (line) => this.#onLine(line));
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_KEPT);
    });
    proc.stdin.on('error', () => undefined); // EPIPE after a crash: the exit handler answers the requests
    proc.on('error', (err) => this.#onExit(proc, `could not start ${o.python}: ${err.message}`));
    proc.on('exit', (code, signal) => this.#onExit(proc, `exited with ${signal ?? `code ${code}`}`));
    return proc;
  }

  #onLine(line: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      this.#stderr = (this.#stderr + `\n[stdout] ${line}`).slice(-STDERR_KEPT);
      return;
    }
    const parsed = lineSchema.safeParse(raw);
    if (!parsed.success) return;
    const m = parsed.data;
    if (m.type === 'error' && m.id === null) this.#lastError = m.message;
    if ((m.type !== 'scores' && m.type !== 'error') || m.id === null) return;
    const pending = this.#pending.get(m.id);
    if (!pending) return;
    this.#pending.delete(m.id);
    if (m.type === 'scores') pending.resolve(m.scores);
    else pending.reject(new EngineFailure(m.message));
  }

  #onExit(proc: ChildProcessWithoutNullStreams, how: string): void {
    if (this.#proc !== null && this.#proc !== proc) return;
    this.#proc = null;
    const why = this.#lastError || this.#stderr.trim().split('\n').slice(-3).join(' | ');
    const error = new EngineFailure(`the classification engine for ${this.options.modelDir} ${how}${why ? `: ${why}` : ''}; it restarts on the next request`);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }
}

export type ClassifierPoolSettings = Pick<Settings, 'python' | 'device' | 'modelsDir' | 'dataDir' | 'servingMaxAdapters' | 'servingMaxSeqLen' | 'servingThreads'>;

/** The classification engines of a server, one per base model, started on first use. */
export class ClassifierPool {
  readonly #settings: ClassifierPoolSettings;
  readonly #engines = new Map<string, ClassifierEngine>();

  constructor(settings: ClassifierPoolSettings) {
    this.#settings = settings;
  }

  /** The engine, tokenizer and longest input for base model `baseId`. Throws UnknownBaseModelError. */
  async target(baseId: string): Promise<{ engine: ClassifierEngine; tokenizer: Tokenizer; maxSeqLen: number }> {
    const s = this.#settings;
    const base = await resolveBaseModel(baseId, { modelsDir: s.modelsDir, dataDir: s.dataDir, python: s.python });
    const maxSeqLen = Math.min(base.maxSeqLen, s.servingMaxSeqLen);
    let engine = this.#engines.get(baseId);
    if (!engine) {
      engine = new ClassifierEngine({ python: resolvePython(s.python), modelDir: base.dir, device: s.device, maxAdapters: s.servingMaxAdapters, maxSeqLen, threads: s.servingThreads });
      this.#engines.set(baseId, engine);
    }
    return { engine, tokenizer: await loadTokenizer(base.tokenizerPath), maxSeqLen };
  }

  /** Stops every engine. */
  async close(): Promise<void> {
    await Promise.all([...this.#engines.values()].map((e) => e.close()));
    this.#engines.clear();
  }
}
