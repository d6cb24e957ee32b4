/**
 * Base models: the built-in `tiny-mistral` (models/tiny-mistral; weights generated from a fixed
 * seed by `ensureBuiltInModel`, which setup, the server and the worker call when they start, never a
 * lookup) plus every sub-folder of settings.modelsDir that holds a model in Mistral's native layout
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
const builtInDir = path.join(repoRoot, 'models', builtInModelId);

export type BaseModel = {
  id: string;
  dir: string;
  layout: 'native' | 'hf';
  tokenizerPath: string;
  /** Longest sequence the model takes (seq_len is capped at it). */
  maxSeqLen: number;
  /** Parameter count, from the architecture (the throughput prior scales with it). */
  params: number;
  /** The Hugging Face repo id it came from (hub-cache models), else null. */
  hfRepoId: string | null;
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
});
const hfConfig = z.object({
  hidden_size: z.number(), num_hidden_layers: z.number(), intermediate_size: z.number(), num_attention_heads: z.number(),
  num_key_value_heads: z.number().optional(), head_dim: z.number().nullish(), vocab_size: z.number(),
  max_position_embeddings: z.number().optional(),
});

/** Ids of every base model: the built-in one and the folders of modelsDir. */
export async function listBaseModelIds(dirs: Pick<Dirs, 'modelsDir' | keyof ModelSources>): Promise<string[]> {
  const ids = [builtInModelId];
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
  return id === builtInModelId || inModelsDir(id, dirs) || findRegisteredModel(id, dirs) !== null;
}

function inModelsDir(id: string, dirs: Pick<Dirs, 'modelsDir'>): boolean {
  return /^[\w.-]+$/.test(id) && !!dirs.modelsDir && isModelDir(path.join(dirs.modelsDir, id));
}

/** The folder and Hugging Face repo id of a known base model id (modelsDir before baseModels). */
function baseModelSource(id: string, dirs: Dirs): { dir: string; hfRepoId: string | null } {
  if (id === builtInModelId) return { dir: builtInModelDir(dirs), hfRepoId: null };
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
  const shape = layout === 'native' ? nativeShape(await readJson(spec)) : hfShape(await readJson(spec));
  const model: BaseModel = { id, dir, layout, tokenizerPath: await findTokenizer(dir), ...shape, hfRepoId };
  resolved.set(dir, { stamp, model });
  return model;
}

function nativeShape(raw: unknown): { maxSeqLen: number; params: number } {
  const p = nativeParams.parse(raw);
  const headDim = p.head_dim ?? p.dim / p.n_heads;
  const kv = p.n_kv_heads ?? p.n_heads;
  const perLayer = p.dim * headDim * (2 * p.n_heads + 2 * kv) + 3 * p.dim * p.hidden_dim;
  return { maxSeqLen: p.max_seq_len ?? p.max_position_embeddings ?? 32768, params: p.n_layers * perLayer + 2 * p.vocab_size * p.dim };
}

function hfShape(raw: unknown): { maxSeqLen: number; params: number } {
  const c = hfConfig.parse(raw);
  return nativeShape({
    dim: c.hidden_size, n_layers: c.num_hidden_layers, hidden_dim: c.intermediate_size, n_heads: c.num_attention_heads,
    n_kv_heads: c.num_key_value_heads, head_dim: c.head_dim ?? undefined, vocab_size: c.vocab_size, max_seq_len: c.max_position_embeddings,
  });
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

/** The built-in model's folder: the checkout's, else the copy generated into the data dir (read-only checkouts). */
function builtInModelDir(dirs: Pick<Dirs, 'dataDir'>): string {
  const fallback = path.join(dirs.dataDir, 'models', builtInModelId);
  return !isComplete(builtInDir) && isComplete(fallback) ? fallback : builtInDir;
}

/**
 * Generates the built-in model's weights once if they are missing (into the data dir when the
 * checkout is read-only) and returns its folder. Setup, the server and the worker call it at start.
 */
export async function ensureBuiltInModel(dirs: Pick<Dirs, 'dataDir' | 'python'>): Promise<string> {
  if (isComplete(builtInDir)) return builtInDir;
  const fallback = path.join(dirs.dataDir, 'models', builtInModelId);
  if (isComplete(fallback)) return fallback;
  const writable = await access(builtInDir, constants.W_OK).then(() => true, () => false);
  const out = writable ? builtInDir : fallback;
  const pending = generating.get(out) ?? generateTinyMistral(out, dirs.python);
  generating.set(out, pending);
  try {
    return await pending;
  } finally {
    generating.delete(out);
  }
}

function isComplete(dir: string): boolean {
  return existsSync(path.join(dir, 'params.json')) && existsSync(path.join(dir, 'consolidated.safetensors')) && existsSync(path.join(dir, 'tokenizer.model.v3'));
}

async function generateTinyMistral(out: string, python: string): Promise<string> {
  await mkdir(out, { recursive: true });
  const stderr: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(resolvePython(python), ['-m', 'trainer.tiny_model', '--out', out], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`generating tiny-mistral failed (python -m trainer.tiny_model exit ${code}): ${stderr.join('').slice(-2000)}`);
  if (!existsSync(path.join(out, 'tokenizer.model.v3'))) await copyFile(path.join(builtInDir, 'tokenizer.model.v3'), path.join(out, 'tokenizer.model.v3'));
  return out;
}
