/**
 * The Tekken text tokenizer behind `tekken.json`: tiktoken BPE over the file's ranks cut to
 * `default_vocab_size - default_num_special_tokens`, with every ordinary id shifted up by the number
 * of special tokens, which come first. The BPE is tekken-bpe.ts (plain TypeScript, about 3x the
 * `tiktoken` package's WASM core on a first pass); the WASM core remains for a pattern JavaScript's
 * RegExp cannot express.
 */
import { createRequire } from 'node:module';
import type { Tiktoken } from 'tiktoken';
import { z } from 'zod';
import type { ImageSettings, TextBackend } from './backend.ts';
import { compileTekkenPattern, TekkenBpe } from './tekken-bpe.ts';

// The list mistral-common uses for files without `special_tokens` (versions up to v7).
const DEPRECATED_SPECIALS = [
  '<unk>', '<s>', '</s>', '[INST]', '[/INST]', '[AVAILABLE_TOOLS]', '[/AVAILABLE_TOOLS]',
  '[TOOL_RESULTS]', '[/TOOL_RESULTS]', '[TOOL_CALLS]', '[IMG]', '<pad>', '[IMG_BREAK]', '[IMG_END]',
  '[PREFIX]', '[MIDDLE]', '[SUFFIX]', '[SYSTEM_PROMPT]', '[/SYSTEM_PROMPT]', '[TOOL_CONTENT]',
];

const imageSchema = z.object({
  image_patch_size: z.number().int().positive(),
  max_image_size: z.number().int().positive(),
  spatial_merge_size: z.number().int().positive().default(1),
});

type VocabEntry = { rank: number; token_bytes: string };

/**
 * The vocabulary is checked by a plain loop inside a zod custom type: an object schema per entry
 * took ~0.2 s (and a second copy of 131k objects) of every load of the Nemo file.
 */
function isVocab(v: unknown): v is VocabEntry[] {
  if (!Array.isArray(v)) return false;
  for (const e of v) {
    if (typeof e !== 'object' || e === null || !Number.isInteger(e.rank) || typeof e.token_bytes !== 'string') return false;
  }
  return true;
}

export const tekkenFileSchema = z.object({
  config: z.object({
    pattern: z.string(),
    default_vocab_size: z.number().int().positive(),
    default_num_special_tokens: z.number().int().positive(),
    version: z.string(),
  }),
  vocab: z.custom<VocabEntry[]>(isVocab, 'vocab must be a list of {rank: integer, token_bytes: base64 string}'),
  special_tokens: z.array(z.object({ rank: z.number().int(), token_str: z.string() })).optional(),
  image: imageSchema.optional(),
  multimodal: imageSchema.optional(),
});
export type TekkenFile = z.infer<typeof tekkenFileSchema>;

// The pre-tokenisation pattern of every Mistral tekken file so far (Nemo, Pixtral, v7-v13 models).
const TEKKEN_PATTERN =
  '[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const CHUNK_CACHE_LIMIT = 200_000;

/** An ASCII letter or digit. */
function isAsciiWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

export class TekkenBackend implements TextBackend {
  readonly kind = 'tekken' as const;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly stripLeadingSpace = false;
  readonly image: ImageSettings | null;
  readonly numSpecial: number;
  private readonly bpe: Tiktoken | null;
  private readonly jsBpe: TekkenBpe | null;
  private readonly special = new Map<string, number>();
  private readonly specialIds = new Map<number, string>();
  private readonly ranks: string[];
  private readonly bytesCache: (Uint8Array | undefined)[];
  private readonly splitWords: boolean;
  private readonly chunkCache = new Map<string, Uint32Array>();

  constructor(file: TekkenFile, version: string) {
    const cfg = file.config;
    this.numSpecial = cfg.default_num_special_tokens;
    this.vocabSize = cfg.default_vocab_size;
    const inner = this.vocabSize - this.numSpecial;
    if (file.vocab.length < inner) throw new Error(`tekken vocab has ${file.vocab.length} ranks, needs ${inner}`);
    const listed = file.special_tokens;
    if (!listed && Number(version.slice(1)) > 7) {
      throw new Error(`tekken ${version} file must list its special_tokens`);
    }
    const names = listed ? sortedNames(listed) : DEPRECATED_SPECIALS;
    for (let i = 0; i < this.numSpecial; i++) {
      const name = names[i] ?? `<SPECIAL_${i}>`;
      this.special.set(name, i);
      this.specialIds.set(i, name);
    }
    this.ranks = file.vocab.slice(0, inner).map((v) => v.token_bytes);
    this.bytesCache = new Array(this.vocabSize);
    const regex = compileTekkenPattern(cfg.pattern);
    if (regex) {
      const tokens = this.ranks.map((b64) => Buffer.from(b64, 'base64').toString('latin1'));
      this.jsBpe = new TekkenBpe(tokens, regex, this.numSpecial, cfg.pattern === TEKKEN_PATTERN);
      this.bpe = null;
    } else {
      this.jsBpe = null;
      // Loaded only here: instantiating the WASM core adds ~20 MB to every process (and worker) that imports it.
      const { Tiktoken: WasmTiktoken } = createRequire(import.meta.url)('tiktoken') as typeof import('tiktoken');
      this.bpe = new WasmTiktoken(this.ranks.map((b64, i) => `${b64} ${i}`).join('\n'), {}, cfg.pattern);
    }
    this.splitWords = cfg.pattern === TEKKEN_PATTERN;
    this.bosId = this.special.get('<s>') ?? 1;
    this.eosId = this.special.get('</s>') ?? 2;
    const img = file.image ?? file.multimodal;
    this.image = img
      ? { patchSize: img.image_patch_size, maxImageSize: img.max_image_size, spatialMergeSize: img.spatial_merge_size }
      : null;
  }

  /**
   * With the Tekken pattern, a space right after an ASCII letter or digit always starts a new
   * pre-token: the letter or digit ends its own match (no class of the pattern spans both), and
   * the pattern has no look-behind. So the ids of a text are the ids of its chunks cut there: when
   * every chunk is cached they are reused; otherwise the whole text takes one WASM call and its
   * ids are dealt back to the chunks by byte length (chunk edges are token edges) for next time.
   */
  encodeInto(text: string, out: number[]): void {
    if (text.length === 0) return;
    if (this.jsBpe) {
      this.jsBpe.encodeInto(text, out);
      return;
    }
    const bpe = this.bpe as Tiktoken;
    if (!this.splitWords) {
      this.pushIds(bpe.encode_ordinary(text), out);
      return;
    }
    const chunks: string[] = [];
    let start = 0;
    for (let i = 1; i < text.length; i++) {
      if (text.charCodeAt(i) === 32 && isAsciiWordChar(text.charCodeAt(i - 1))) {
        chunks.push(text.slice(start, i));
        start = i;
      }
    }
    chunks.push(text.slice(start));
    const mark = out.length;
    for (const chunk of chunks) {
      const ids = this.chunkCache.get(chunk);
      if (ids === undefined) {
        out.length = mark;
        this.encodeAndCache(bpe, text, chunks, out);
        return;
      }
      this.pushIds(ids, out);
    }
  }

  private encodeAndCache(bpe: Tiktoken, text: string, chunks: string[], out: number[]): void {
    const all = bpe.encode_ordinary(text);
    this.pushIds(all, out);
    if (this.chunkCache.size + chunks.length > CHUNK_CACHE_LIMIT) this.chunkCache.clear();
    let k = 0;
    for (const chunk of chunks) {
      const need = Buffer.byteLength(chunk);
      const from = k;
      let got = 0;
      while (got < need && k < all.length) got += this.tokenLength(all[k++] as number);
      if (got !== need) return; // never expected: keep the ids, cache nothing
      this.chunkCache.set(chunk, all.slice(from, k));
    }
  }

  private tokenLength(rank: number): number {
    const b64 = this.ranks[rank] as string;
    const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
    return (b64.length / 4) * 3 - pad;
  }

  private pushIds(ids: Uint32Array, out: number[]): void {
    const off = this.numSpecial;
    for (let i = 0; i < ids.length; i++) out.push((ids[i] as number) + off);
  }

  specialId(name: string): number | undefined {
    return this.special.get(name);
  }

  isSpecial(id: number): boolean {
    return id < this.numSpecial;
  }

  specialName(id: number): string | undefined {
    return this.specialIds.get(id);
  }

  tokenBytes(id: number): Uint8Array {
    let b = this.bytesCache[id];
    if (b === undefined) {
      const b64 = id >= this.numSpecial ? this.ranks[id - this.numSpecial] : undefined;
      b = b64 === undefined ? new Uint8Array(0) : new Uint8Array(Buffer.from(b64, 'base64'));
      this.bytesCache[id] = b;
    }
    return b;
  }
}

function sortedNames(list: { rank: number; token_str: string }[]): string[] {
  const names: string[] = [];
  for (const t of list) names[t.rank] = t.token_str;
  return names;
}
