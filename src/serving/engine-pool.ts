/**
 * The engines of a server: one `trainer.serve` process per base model (started on its first
 * request), and what a chat needs to reach one: the engine, the base model's tokenizer, the
 * adapter folder and the model's context length. Only src/serving spawns the engine.
 */
import type { Settings } from '../settings/index.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { repoRoot, resolveBaseModel, resolvePython } from '../models/index.ts';
import type { ChatTarget } from './complete-chat.ts';
import { Engine } from './engine.ts';

export type PoolSettings = Pick<Settings, 'python' | 'device' | 'modelsDir' | 'baseModels' | 'hfHubCache' | 'dataDir' | 'servingMaxAdapters' | 'servingMaxBatch' | 'servingMaxSeqLen' | 'servingThreads'>;

export class EnginePool {
  readonly #settings: PoolSettings;
  readonly #engines = new Map<string, Engine>();

  constructor(settings: PoolSettings) {
    this.#settings = settings;
  }

  /** The engine and tokenizer for base model `baseId`, with `adapterDir` (null: the base model). Throws UnknownBaseModelError. */
  async target(baseId: string, adapterDir: string | null): Promise<ChatTarget> {
    const s = this.#settings;
    const base = await resolveBaseModel(baseId, s);
    const maxSeqLen = Math.min(base.maxSeqLen, s.servingMaxSeqLen);
    let engine = this.#engines.get(baseId);
    if (!engine) {
      engine = new Engine({
        python: resolvePython(s.python), cwd: repoRoot, modelDir: base.dir, device: s.device,
        maxAdapters: s.servingMaxAdapters, maxBatch: s.servingMaxBatch, maxSeqLen, threads: s.servingThreads,
      });
      this.#engines.set(baseId, engine);
    }
    return { engine, tokenizer: await loadTokenizer(base.tokenizerPath), adapterDir, maxSeqLen, vision: base.vision };
  }

  /** The engine already started for a base model, if any (tests and benchmarks inspect it). */
  engineFor(baseId: string): Engine | undefined {
    return this.#engines.get(baseId);
  }

  /** Requests being decoded or waiting, over every engine, and the rows the engines have (the server's /metrics). */
  slots(): { inUse: number; capacity: number } {
    const engines = [...this.#engines.values()];
    return { inUse: engines.reduce((n, e) => n + e.inFlight, 0), capacity: engines.length * this.#settings.servingMaxBatch };
  }

  /** Stops every engine. */
  async close(): Promise<void> {
    await Promise.all([...this.#engines.values()].map((e) => e.close()));
    this.#engines.clear();
  }
}
