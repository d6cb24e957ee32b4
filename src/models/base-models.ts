/**
 * Base models: the built-in `tiny-mistral` (models/tiny-mistral; weights generated from a fixed
 * seed on first use) plus every sub-folder of settings.modelsDir that holds a model in Mistral's
 * native layout (params.json) or Hugging Face's (config.json).
 */
import { spawn } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
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
};

export class UnknownBaseModelError extends Error {
  constructor(readonly modelId: string, readonly available: string[]) {
    super(`unknown base model '${modelId}'; available: ${available.join(', ') || '(none)'}`);
  }
}

type Dirs = { modelsDir: string; dataDir: string; python: string };

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
export async function listBaseModelIds(dirs: Pick<Dirs, 'modelsDir'>): Promise<string[]> {
  const ids = [builtInModelId];
  if (dirs.modelsDir && existsSync(dirs.modelsDir)) {
    for (const e of await readdir(dirs.modelsDir, { withFileTypes: true })) {
      const d = path.join(dirs.modelsDir, e.name);
      if (e.isDirectory() && (existsSync(path.join(d, 'params.json')) || existsSync(path.join(d, 'config.json')))) ids.push(e.name);
    }
  }
  return [...new Set(ids)];
}

/**
 * Resolves a base model id to its folder, tokenizer and limits; generates tiny-mistral's weights
 * first if they are missing. Throws UnknownBaseModelError listing the ids that exist.
 */
export async function resolveBaseModel(id: string, dirs: Dirs): Promise<BaseModel> {
  const dir = id === builtInModelId ? await ensureTinyMistral(dirs) : await userModelDir(id, dirs);
  const layout = existsSync(path.join(dir, 'params.json')) ? 'native' : 'hf';
  const shape = layout === 'native' ? nativeShape(await readJson(path.join(dir, 'params.json'))) : hfShape(await readJson(path.join(dir, 'config.json')));
  return { id, dir, layout, tokenizerPath: await findTokenizer(dir), ...shape };
}

async function userModelDir(id: string, dirs: Dirs): Promise<string> {
  const ids = await listBaseModelIds(dirs);
  if (!ids.includes(id) || !/^[\w.-]+$/.test(id)) throw new UnknownBaseModelError(id, ids);
  return path.join(dirs.modelsDir, id);
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

/** The built-in model's folder with weights, generating them once (into the data dir when the checkout is read-only). */
async function ensureTinyMistral(dirs: Dirs): Promise<string> {
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
