/**
 * Token shards (docs/contracts.md): a validated dataset file tokenized with the base model's
 * tokenizer into tokens.u32 / mask.u8 / offsets.u64 + meta.json (written last). One shard per
 * (file sha256, tokenizer sha256, mask policy) under <data-dir>/shards/<key>/, reused by every job
 * with the same key. Written in a temporary folder and renamed, so a half-written shard is never seen.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { iterateValidSamples } from '../data/index.ts';
import { loadTokenizer } from '../tokenizer/index.ts';

export const shardFormat = 'atelier-shard-v1';
/** The mask policy Atelier trains with: the tokenizer's default (every assistant turn of weight 1). */
export const defaultMaskPolicy = 'default';

const fileHashes = new Map<string, Promise<string>>();

/** sha256 of a file's bytes (cached per path for this process: tokenizer files do not change). */
export function sha256File(file: string): Promise<string> {
  let h = fileHashes.get(file);
  if (!h) {
    h = readFile(file).then((b) => createHash('sha256').update(b).digest('hex'));
    fileHashes.set(file, h);
  }
  return h;
}

/** The cache key of a shard. */
export function shardKey(sourceSha256: string, tokenizerSha256: string, policy = defaultMaskPolicy): string {
  return createHash('sha256').update(`${sourceSha256}\n${tokenizerSha256}\n${policy}`).digest('hex').slice(0, 32);
}

/** Writes a chunk, waiting for 'drain' when the stream's buffer is full. */
export function writeChunk(stream: WriteStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.write(chunk)) resolve();
    else stream.once('drain', resolve).once('error', reject);
  });
}

/** Ends a stream; resolves once its data is flushed. */
export function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

export type ShardInfo = { dir: string; key: string; reused: boolean; samples: number; tokens: number; trainedTokens: number };

/**
 * Returns the shard of a dataset file, writing it unless a complete one with the same key exists.
 * Only valid samples go in (invalid lines were counted against invalid_sample_skip_percentage at validation).
 */
export async function ensureShard(p: { dataDir: string; sourcePath: string; sourceSha256: string; tokenizerPath: string }): Promise<ShardInfo> {
  const tokenizerSha = await sha256File(p.tokenizerPath);
  const key = shardKey(p.sourceSha256, tokenizerSha);
  const dir = path.join(p.dataDir, 'shards', key);
  const metaPath = path.join(dir, 'meta.json');
  if (existsSync(metaPath)) {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { samples: number; tokens: number; trained_tokens: number };
    return { dir, key, reused: true, samples: meta.samples, tokens: meta.tokens, trainedTokens: meta.trained_tokens };
  }
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    const meta = await writeShardFiles(tmp, p.sourcePath, p.tokenizerPath);
    await writeFile(path.join(tmp, 'meta.json'), JSON.stringify({ format: shardFormat, ...meta, tokenizer_sha256: tokenizerSha, source_sha256: p.sourceSha256 }));
    if (existsSync(metaPath)) await rm(tmp, { recursive: true, force: true }); // another worker finished first
    else await rename(tmp, dir);
    return { dir, key, reused: false, samples: meta.samples, tokens: meta.tokens, trainedTokens: meta.trained_tokens };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function writeShardFiles(dir: string, source: string, tokenizerPath: string): Promise<{ samples: number; tokens: number; trained_tokens: number }> {
  const tokenizer = await loadTokenizer(tokenizerPath);
  const tokens = createWriteStream(path.join(dir, 'tokens.u32'));
  const mask = createWriteStream(path.join(dir, 'mask.u8'));
  const offsets = createWriteStream(path.join(dir, 'offsets.u64'));
  let samples = 0;
  let total = 0;
  let trained = 0;
  const offset = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  await writeChunk(offsets, offset(0));
  for await (const s of iterateValidSamples(source, { format: 'chat' })) {
    const enc = tokenizer.encodeChat(s.sample, { mode: 'train' });
    const t = Buffer.alloc(enc.tokens.length * 4);
    enc.tokens.forEach((id, i) => t.writeUInt32LE(id, i * 4));
    await writeChunk(tokens, t);
    await writeChunk(mask, Buffer.from(enc.mask));
    samples += 1;
    total += enc.tokens.length;
    trained += enc.mask.reduce((a, b) => a + b, 0);
    await writeChunk(offsets, offset(total));
  }
  await Promise.all([closeStream(tokens), closeStream(mask), closeStream(offsets)]);
  return { samples, tokens: total, trained_tokens: trained };
}
