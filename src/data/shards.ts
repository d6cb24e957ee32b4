/**
 * Token shards (docs/contracts.md): a validated dataset file tokenized with the base model's
 * tokenizer into tokens.u32 / mask.u8 / offsets.u64 + meta.json (written last); a dataset with
 * images adds images.bin / images.u64 / sample_images.u64 (each image's raw bytes, streamed). One shard per
 * (file sha256, tokenizer sha256, mask policy) under <data-dir>/shards/<key>/, reused by every job
 * with the same key. Written in a temporary folder and renamed, so a half-written shard is never seen.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { sha256File } from './content-hash.ts';
import type { TokenCounter } from './stats.ts';
import { iterateValidSamples, validateDatasetFile, type FileReport, type ValidateOptions } from './validate-file.ts';
import type { Tokenizer } from '../tokenizer/index.ts';

/** The tokenizer module, loaded on first use (as token-counter.ts does: importing src/data stays light). */
async function loadTokenizer(file: string): Promise<Tokenizer> {
  const mod = await import('../tokenizer/index.ts');
  return mod.loadTokenizer(file);
}

const shardFormat = 'atelier-shard-v1';
/** The mask policy Atelier trains with: the tokenizer's default (every assistant turn of weight 1). */
const defaultMaskPolicy = 'default';


/**
 * The cache key of a shard. `images-v1`: shards written before image files existed have the same
 * tokens but no images; a new key keeps a dataset with images from reusing one of those.
 */
export function shardKey(sourceSha256: string, tokenizerSha256: string, policy = defaultMaskPolicy): string {
  return createHash('sha256').update(`${sourceSha256}\n${tokenizerSha256}\n${policy}\nimages-v1`).digest('hex').slice(0, 32);
}

/** Writes a chunk, waiting for 'drain' when the stream's buffer is full; rejects once the stream has failed. */
function writeChunk(stream: WriteStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.errored) reject(stream.errored);
    else if (stream.write(chunk)) resolve();
    else stream.once('drain', resolve).once('error', reject);
  });
}

/** Ends a stream; resolves once its data is flushed. */
function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(rootCause(stream.errored ?? err)) : resolve())));
}

/** A stream that failed to open and was then ended reports AggregateError(open error, "write after end"): the first is the cause. */
function rootCause(err: Error): Error {
  return err instanceof AggregateError && err.errors[0] instanceof Error ? err.errors[0] : err;
}

export type ShardInfo = { dir: string; key: string; reused: boolean; samples: number; tokens: number; trainedTokens: number };

/** [IMG], [IMG_BREAK] and [IMG_END] ids: the trainer finds each image's block (and cuts before one that does not fit) with them. */
export type ImageTokenIds = { img: number; break: number; end: number };

/** What a shard writer reports for meta.json (`images` and `image_token_ids` only when the shard has images). */
export type ShardCounts = { samples: number; tokens: number; trained_tokens: number; images?: number; image_token_ids?: ImageTokenIds };

const shardMeta = z.object({ samples: z.number().int(), tokens: z.number().int(), trained_tokens: z.number().int() });

/**
 * Returns shard `key` under `<dataDir>/shards/`, reused when its meta.json exists; otherwise
 * `write(tmp)` fills a temporary folder, meta.json goes in last, and the folder is renamed into place
 * (so a half-written shard is never seen). Removes the temporary folder and rethrows when `write` fails.
 */
export async function ensureShardDir(
  p: { dataDir: string; key: string; sourceSha256: string; tokenizerSha256: string },
  write: (tmp: string) => Promise<ShardCounts>,
): Promise<ShardInfo> {
  const dir = path.join(p.dataDir, 'shards', p.key);
  const metaPath = path.join(dir, 'meta.json');
  if (existsSync(metaPath)) {
    const meta = shardMeta.parse(JSON.parse(await readFile(metaPath, 'utf8')));
    return { dir, key: p.key, reused: true, samples: meta.samples, tokens: meta.tokens, trainedTokens: meta.trained_tokens };
  }
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    const counts = await write(tmp);
    await writeFile(path.join(tmp, 'meta.json'), JSON.stringify({ format: shardFormat, ...counts, tokenizer_sha256: p.tokenizerSha256, source_sha256: p.sourceSha256 }));
    if (existsSync(metaPath)) await rm(tmp, { recursive: true, force: true }); // another worker finished first
    else await renameUnlessWritten(tmp, dir, metaPath);
    return { dir, key: p.key, reused: false, samples: counts.samples, tokens: counts.tokens, trainedTokens: counts.trained_tokens };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Renames the finished temporary folder into place; when another writer (a second job validating
 * the same file at once, another worker) renamed its own copy first, the rename fails with
 * ENOTEMPTY/EEXIST and that shard, byte-identical by construction, is kept instead.
 */
async function renameUnlessWritten(tmp: string, dir: string, metaPath: string): Promise<void> {
  try {
    await rename(tmp, dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(metaPath)) throw err;
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The streams of a shard folder: `add` appends one sample (its tokens, mask and the raw bytes of its
 * images in [IMG] block order), `close` flushes them. Each image is written as it comes, so memory
 * holds one sample's images at most.
 */
export type ShardWriter = { add(tokens: number[], mask: Buffer, images?: Buffer[]): Promise<void>; close(): Promise<ShardCounts> };

function openStream(dir: string, name: string): WriteStream {
  const stream = createWriteStream(path.join(dir, name));
  // One stream can fail (a full disk) while we await a write on another: an 'error' with no
  // listener would kill the process. The failure stays in stream.errored, where writeChunk and
  // closeStream report it to the caller.
  stream.on('error', () => undefined);
  return stream;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Opens the token streams of a shard in the existing folder `dir`; `imageIds` is required to add images. */
export async function openShardWriter(dir: string, imageIds?: ImageTokenIds): Promise<ShardWriter> {
  const [tokens, mask, offsets] = ['tokens.u32', 'mask.u8', 'offsets.u64'].map((name) => openStream(dir, name)) as [WriteStream, WriteStream, WriteStream];
  const counts: ShardCounts = { samples: 0, tokens: 0, trained_tokens: 0 };
  const images = imageStreams(dir);
  await writeChunk(offsets, u64(0));
  return {
    async add(ids, m, imgs = []) {
      const t = Buffer.alloc(ids.length * 4);
      ids.forEach((id, i) => t.writeUInt32LE(id, i * 4));
      await writeChunk(tokens, t);
      await writeChunk(mask, m);
      await images.add(counts.samples, imgs);
      counts.samples += 1;
      counts.tokens += ids.length;
      counts.trained_tokens += m.reduce((a, b) => a + b, 0);
      await writeChunk(offsets, u64(counts.tokens));
    },
    async close() {
      const n = await images.close();
      await Promise.all([closeStream(tokens), closeStream(mask), closeStream(offsets)]);
      if (n === 0) return counts;
      if (!imageIds) throw new Error('a shard with images needs the tokenizer\'s [IMG], [IMG_BREAK] and [IMG_END] ids');
      return { ...counts, images: n, image_token_ids: imageIds };
    },
  };
}

/**
 * images.bin (raw bytes back to back), images.u64 (n_images + 1 byte offsets) and
 * sample_images.u64 (samples + 1 image indices). Opened at the first image, so a text-only shard
 * has none of these files; the sample entries before it are all 0 and are written then.
 */
function imageStreams(dir: string): { add(sample: number, imgs: Buffer[]): Promise<void>; close(): Promise<number> } {
  let files: { bin: WriteStream; offsets: WriteStream; perSample: WriteStream } | null = null;
  let n = 0;
  let bytes = 0;
  return {
    async add(sample, imgs) {
      if (!files && imgs.length === 0) return;
      if (!files) {
        files = { bin: openStream(dir, 'images.bin'), offsets: openStream(dir, 'images.u64'), perSample: openStream(dir, 'sample_images.u64') };
        await writeChunk(files.offsets, u64(0));
        await writeChunk(files.perSample, Buffer.concat(Array.from({ length: sample + 1 }, () => u64(0))));
      }
      for (const img of imgs) {
        await writeChunk(files.bin, img);
        bytes += img.length;
        n += 1;
        await writeChunk(files.offsets, u64(bytes));
      }
      await writeChunk(files.perSample, u64(n));
    },
    async close() {
      if (!files) return 0;
      const f = files;
      await Promise.all([closeStream(f.bin), closeStream(f.offsets), closeStream(f.perSample)]);
      return n;
    },
  };
}

/**
 * Returns the shard of a dataset file, writing it unless a complete one with the same key exists.
 * Only valid samples go in (invalid lines were counted against invalid_sample_skip_percentage at validation).
 */
export async function ensureShard(p: { dataDir: string; sourcePath: string; sourceSha256: string; tokenizerPath: string }): Promise<ShardInfo> {
  const tokenizerSha256 = await sha256File(p.tokenizerPath);
  const key = shardKey(p.sourceSha256, tokenizerSha256);
  return ensureShardDir({ dataDir: p.dataDir, key, sourceSha256: p.sourceSha256, tokenizerSha256 }, (tmp) => writeShardFiles(tmp, p.sourcePath, p.tokenizerPath));
}

/** The tokenizer's image token ids, or undefined when it has no image tokens. */
function imageTokenIds(t: Tokenizer): ImageTokenIds | undefined {
  const { img, imgBreak, imgEnd } = t.special;
  return img !== undefined && imgBreak !== undefined && imgEnd !== undefined ? { img, break: imgBreak, end: imgEnd } : undefined;
}

async function writeShardFiles(dir: string, source: string, tokenizerPath: string): Promise<ShardCounts> {
  const tokenizer = await loadTokenizer(tokenizerPath);
  const writer = await openShardWriter(dir, imageTokenIds(tokenizer));
  for await (const s of iterateValidSamples(source, { format: 'chat' })) {
    const enc = tokenizer.encodeChat(s.sample, { mode: 'train' });
    await writer.add(enc.tokens, Buffer.from(enc.mask), enc.images);
  }
  return writer.close();
}

/**
 * Validates a chat dataset file and writes its shard in the same pass: each valid sample is
 * tokenized once, for the report's token counts and for its shard row, so a job's validation leaves
 * the shard its training reads. When the shard already exists this only validates (with `opts.countTokens`).
 */
export async function validateIntoShard(
  p: { dataDir: string; sourcePath: string; sourceSha256: string; tokenizerPath: string },
  opts: ValidateOptions & { countTokens: TokenCounter },
): Promise<FileReport> {
  const tokenizerSha256 = await sha256File(p.tokenizerPath);
  const key = shardKey(p.sourceSha256, tokenizerSha256);
  let report: FileReport | null = null;
  await ensureShardDir({ dataDir: p.dataDir, key, sourceSha256: p.sourceSha256, tokenizerSha256 }, async (tmp) => {
    const tokenizer = await loadTokenizer(p.tokenizerPath);
    const writer = await openShardWriter(tmp, imageTokenIds(tokenizer));
    let written = Promise.resolve();
    const count: TokenCounter = (sample, format) => {
      if (format !== 'chat') return opts.countTokens(sample, format);
      const enc = tokenizer.encodeChat(sample, { mode: 'train' }); // throws for a sample it cannot render: that line is invalid, not written
      written = written.then(() => writer.add(enc.tokens, Buffer.from(enc.mask), enc.images));
      let trained = 0;
      for (let i = 0; i < enc.mask.length; i++) trained += enc.mask[i] as number;
      return { tokens: enc.tokens.length, trained };
    };
    report = await validateDatasetFile(p.sourcePath, { ...opts, format: 'chat', countTokens: count });
    await written;
    return writer.close();
  });
  return report ?? validateDatasetFile(p.sourcePath, { ...opts, format: 'chat' });
}
