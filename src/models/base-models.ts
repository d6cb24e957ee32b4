/**
 * Base models: the built-ins `tiny-mistral` and `tiny-pixtral` (models/<id>; weights generated from
 * a fixed seed by `ensureBuiltInModels`, which setup, the server and the worker call when they start,
 * never a lookup) plus every sub-folder of settings.modelsDir that holds a model in Mistral's native layout
 * (params.json) or Hugging Face's (config.json), plus those of the baseModels setting (repo ids found
 * in the Hugging Face hub cache, or folders: hub-cache.ts). Resolutions are cached by folder and re-read when
 * the folder or its params/config file changes.
 */
import { spawn } from 'node:child_process';
import { constants, existsSync, statSync } from 'node:fs';
import { access, copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { findRegisteredModel, registeredBaseModels, type ModelSources } from './hub-cache.ts';
import { repoRoot, resolvePython } from './python.ts';

export const builtInModelId = 'tiny-mistral';

/** Each built-in: the trainer module that writes its weights (`--out DIR`) and the tokenizer file it needs. */
// `trainsVision`: jobs on it also train the projector and the encoder unless they say otherwise.
// tiny-pixtral's encoder is random (nothing was pretrained), so LoRA on the decoder alone cannot
// learn to read its features: measured on the colour task, 89% after 300 LoRA-only steps against 98%
// after 150 with both parts trained (docs/vision.md). A pretrained base keeps LoRA only by default.
const builtIns: Record<string, { module: string; tokenizer: string; trainsVision: boolean }> = {
  'tiny-mistral': { module: 'trainer.tiny_model', tokenizer: 'tokenizer.model.v3', trainsVision: false },
  'tiny-pixtral': { module: 'trainer.tiny_pixtral', tokenizer: 'tekken.json', trainsVision: true },
};

/** The built-in ids this checkout can provide: its folder is complete or its generator module is there. */
export function builtInModelIds(): string[] {
  return Object.keys(builtIns).filter((id) => isComplete(id, checkoutDir(id)) || existsSync(moduleFile(builtIns[id]!.module)));
}

function checkoutDir(id: string): string {
  return path.join(repoRoot, 'models', id);
}

function moduleFile(module: string): string {
  return path.join(repoRoot, ...module.split('.')) + '.py';
}

export type BaseModel = {
  id: string;
  dir: string;
  layout: 'native' | 'hf';
  tokenizerPath: string;
  /** Longest sequence the model takes (seq_len is capped at it). */
  maxSeqLen: number;
  /** Parameter count, from the architecture (the throughput prior scales with it). */
  params: number;
  /** The architecture numbers (the memory plan, src/jobs/memory-plan.ts, reads them). */
  shape: ModelShape;
  /** Whether the model reads images: a `vision_encoder` in params.json, a `vision_config` in config.json. */
  vision: boolean;
  /** The Hugging Face repo id it came from (hub-cache models), else null. */
  hfRepoId: string | null;
  /** Jobs also train the vision projector and encoder unless they ask otherwise (a base whose encoder was never trained). */
  trainsVisionByDefault: boolean;
};

export type ModelShape = {
  dim: number; nLayers: number; hiddenDim: number; nHeads: number; nKvHeads: number; headDim: number; vocabSize: number; tiedEmbeddings: boolean;
};

export class UnknownBaseModelError extends Error {
  constructor(readonly modelId: string, readonly available: string[]) {
    super(`unknown base model '${modelId}'; available: ${available.join(', ') || '(none)'}`);
  }
}

type Dirs = { modelsDir: string; dataDir: string; python: string } & ModelSources;

const nativeParams = z.object({
  dim: z.number(), n_layers: z.number(), hidden_dim: z.number(), n_heads: z.number(), n_kv_heads: z.number().optional(),
  head_dim: z.number().optional(), vocab_size: z.number(), max_seq_len: z.number().optional(),
  max_position_embeddings: z.number().optional(), sliding_window: z.number().nullish(),
  vision_encoder: z.looseObject({}).nullish(),
});
const hfConfig = z.object({
  hidden_size: z.number(), num_hidden_layers: z.number(), intermediate_size: z.number(), num_attention_heads: z.number(),
  num_key_value_heads: z.number().optional(), head_dim: z.number().nullish(), vocab_size: z.number(),
  max_position_embeddings: z.number().optional(),
});

/** Ids of every base model: the built-in one and the folders of modelsDir. */
export async function listBaseModelIds(dirs: Pick<Dirs, 'modelsDir' | keyof ModelSources>): Promise<string[]> {
  const ids = builtInModelIds();
  if (dirs.modelsDir && existsSync(dirs.modelsDir)) {
    for (const e of await readdir(dirs.modelsDir, { withFileTypes: true })) {
      if (e.isDirectory() && isModelDir(path.join(dirs.modelsDir, e.name))) ids.push(e.name);
    }
  }
  ids.push(...registeredBaseModels(dirs).map((m) => m.id));
  return [...new Set(ids)];
}

function isModelDir(dir: string): boolean {
  return existsSync(path.join(dir, 'params.json')) || existsSync(path.join(dir, 'config.json'));
}

/** Whether `id` names a base model, without listing modelsDir. */
export function isBaseModelId(id: string, dirs: Pick<Dirs, 'modelsDir' | keyof ModelSources>): boolean {
  return builtInModelIds().includes(id) || inModelsDir(id, dirs) || findRegisteredModel(id, dirs) !== null;
}

function inModelsDir(id: string, dirs: Pick<Dirs, 'modelsDir'>): boolean {
  return /^[\w.-]+$/.test(id) && !!dirs.modelsDir && isModelDir(path.join(dirs.modelsDir, id));
}

/** The folder and Hugging Face repo id of a known base model id (modelsDir before baseModels). */
function baseModelSource(id: string, dirs: Dirs): { dir: string; hfRepoId: string | null } {
  if (id in builtIns) return { dir: builtInModelDir(id, dirs), hfRepoId: null };
  const registered = inModelsDir(id, dirs) ? null : findRegisteredModel(id, dirs);
  return registered ?? { dir: path.join(dirs.modelsDir, id), hfRepoId: null };
}

type Cached = { stamp: string; model: BaseModel };
const resolved = new Map<string, Cached>();

/**
 * Resolves a base model id to its folder, tokenizer and limits (cached until the folder or its
 * params/config file changes). Throws UnknownBaseModelError listing the ids that exist.
 */
export async function resolveBaseModel(id: string, dirs: Dirs): Promise<BaseModel> {
  if (!isBaseModelId(id, dirs)) throw new UnknownBaseModelError(id, await listBaseModelIds(dirs));
  const { dir, hfRepoId } = baseModelSource(id, dirs);
  const layout = existsSync(path.join(dir, 'params.json')) ? 'native' : 'hf';
  const spec = path.join(dir, layout === 'native' ? 'params.json' : 'config.json');
  const stamp = `${id}:${dir}:${statSync(dir).mtimeMs}:${statSync(spec).mtimeMs}`;
  const hit = resolved.get(dir);
  if (hit?.stamp === stamp) return hit.model;
  const raw = await readJson(spec);
  const shape = layout === 'native' ? nativeShape(raw) : hfShape(raw);
  const model: BaseModel = { id, dir, layout, tokenizerPath: await findTokenizer(dir), ...shape, vision: hasVisionEncoder(raw), hfRepoId, trainsVisionByDefault: builtIns[id]?.trainsVision ?? false };
  resolved.set(dir, { stamp, model });
  return model;
}

function nativeShape(raw: unknown): { maxSeqLen: number; params: number; shape: ModelShape } {
  const p = nativeParams.parse(raw);
  const headDim = p.head_dim ?? p.dim / p.n_heads;
  const kv = p.n_kv_heads ?? p.n_heads;
  const perLayer = p.dim * headDim * (2 * p.n_heads + 2 * kv) + 3 * p.dim * p.hidden_dim;
  const shape = { dim: p.dim, nLayers: p.n_layers, hiddenDim: p.hidden_dim, nHeads: p.n_heads, nKvHeads: kv, headDim, vocabSize: p.vocab_size, tiedEmbeddings: false };
  return { maxSeqLen: p.max_seq_len ?? p.max_position_embeddings ?? 32768, params: p.n_layers * perLayer + 2 * p.vocab_size * p.dim, shape };
}

function hfShape(raw: unknown): { maxSeqLen: number; params: number; shape: ModelShape } {
  const c = hfConfig.parse(raw);
  return nativeShape({
    dim: c.hidden_size, n_layers: c.num_hidden_layers, hidden_dim: c.intermediate_size, n_heads: c.num_attention_heads,
    n_kv_heads: c.num_key_value_heads, head_dim: c.head_dim ?? undefined, vocab_size: c.vocab_size, max_seq_len: c.max_position_embeddings,
  });
}

/**
 * Whether base model `id` has a vision encoder, from its params.json or config.json alone (the
 * models API asks for every base; a folder that is gone or whose file does not parse reads no
 * images here, and chat reports what is wrong with it).
 */
export async function baseModelReadsImages(id: string, dirs: Dirs): Promise<boolean> {
  if (!isBaseModelId(id, dirs)) return false;
  const { dir } = baseModelSource(id, dirs);
  const spec = path.join(dir, existsSync(path.join(dir, 'params.json')) ? 'params.json' : 'config.json');
  try {
    return hasVisionEncoder(await readJson(spec));
  } catch (e) {
    if (e instanceof SyntaxError || (e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Mistral's params.json names the encoder `vision_encoder`; Hugging Face's config.json `vision_config`. */
function hasVisionEncoder(raw: unknown): boolean {
  const o = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  return [o.vision_encoder, o.vision_config].some((v) => v !== null && typeof v === 'object');
}

async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await readFile(file, 'utf8')) as unknown;
}

/** The model's tokenizer file: tekken.json, else the highest tokenizer.model.vN, else tokenizer.model. */
async function findTokenizer(dir: string): Promise<string> {
  const names = await readdir(dir);
  const versioned = names.filter((n) => /^tokenizer\.model\.v\d+$/.test(n)).sort((a, b) => Number(b.split('.v')[1]) - Number(a.split('.v')[1]));
  const pick = ['tekken.json', ...versioned, 'tokenizer.model'].find((n) => names.includes(n));
  if (!pick) throw new Error(`no tokenizer in ${dir}: expected tekken.json or tokenizer.model[.vN]`);
  return path.join(dir, pick);
}

const generating = new Map<string, Promise<string>>();

/** A built-in model's folder: the checkout's, else the copy generated into the data dir (read-only checkouts). */
function builtInModelDir(id: string, dirs: Pick<Dirs, 'dataDir'>): string {
  const fallback = path.join(dirs.dataDir, 'models', id);
  return !isComplete(id, checkoutDir(id)) && isComplete(id, fallback) ? fallback : checkoutDir(id);
}

/**
 * Generates a built-in model's weights once if they are missing (into the data dir when the
 * checkout is read-only) and returns its folder.
 */
export async function ensureBuiltInModel(dirs: Pick<Dirs, 'dataDir' | 'python'>, id = builtInModelId): Promise<string> {
  const own = checkoutDir(id);
  if (isComplete(id, own)) return own;
  const fallback = path.join(dirs.dataDir, 'models', id);
  if (isComplete(id, fallback)) return fallback;
  const writable = await access(own, constants.W_OK).then(() => true, () => access(path.dirname(own), constants.W_OK).then(() => true, () => false));
  const out = writable ? own : fallback;
  const pending = generating.get(out) ?? generateBuiltIn(id, out, dirs.python);
  generating.set(out, pending);
  try {
    return await pending;
  } finally {
    generating.delete(out);
  }
}

/** Every built-in this checkout provides (see builtInModelIds), one after the other. Setup, the server and the worker call it at start. */
export async function ensureBuiltInModels(dirs: Pick<Dirs, 'dataDir' | 'python'>): Promise<void> {
  for (const id of builtInModelIds()) await ensureBuiltInModel(dirs, id);
}

function isComplete(id: string, dir: string): boolean {
  const need = ['params.json', 'consolidated.safetensors', builtIns[id]?.tokenizer ?? 'params.json'];
  return need.every((f) => existsSync(path.join(dir, f)));
}

async function generateBuiltIn(id: string, out: string, python: string): Promise<string> {
  const { module, tokenizer } = builtIns[id]!;
  await mkdir(out, { recursive: true });
  const stderr: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(resolvePython(python), ['-m', module, '--out', out], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`generating ${id} failed (python -m ${module} exit ${code}): ${stderr.join('').slice(-2000)}`);
  // A copy in the data dir takes the checkout's tokenizer when the generator does not write one (tiny-mistral's is committed).
  const own = path.join(checkoutDir(id), tokenizer);
  if (!existsSync(path.join(out, tokenizer)) && existsSync(own)) await copyFile(own, path.join(out, tokenizer));
  return out;
}
