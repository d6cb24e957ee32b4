/**
 * Classifier shards (docs/contracts.md, docs/classifiers.md): the completion shard files
 * (tokens.u32, mask.u8 all ones, offsets.u64, meta.json written last) plus labels.json
 * `{"targets":[{name, labels, multi}], "rows":[[[label indices] per target] per sample]}`.
 * `text` is `encodeText(text, {bos: true})`; `messages` is the conversation as the tokenizer renders
 * it in train mode (the whole conversation, a final assistant turn included). Keyed like completion
 * shards plus the targets, since labels.json depends on them; written in a temp folder and renamed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { iterateValidSamples, type ClassifierTarget } from '../data/index.ts';
import { loadTokenizer, type Tokenizer } from '../tokenizer/index.ts';
import { closeStream, sha256File, shardFormat, shardKey, writeChunk, type ShardInfo } from './shards.ts';

/** A job's target as the trainer reads it (labels.json and the config's classifier block). */
export type ShardTarget = { name: string; labels: string[]; multi: boolean };

/** The job's targets with Mistral's defaults resolved (loss_function single_class). */
export function shardTargets(targets: ClassifierTarget[]): ShardTarget[] {
  return targets.map((t) => ({ name: t.name, labels: t.labels, multi: t.loss_function === 'multi_class' }));
}

/** Tokens of one classifier sample: text with BOS, or the conversation in train mode. */
export function classifierTokens(tokenizer: Tokenizer, sample: Record<string, unknown>): number[] {
  if (typeof sample.text === 'string') return tokenizer.encodeText(sample.text, { bos: true });
  return tokenizer.encodeChat({ messages: sample.messages }, { mode: 'train' }).tokens;
}

/** Label indices per target of one sample; throws when a target has no label (validation rejects that first). */
function labelRow(labels: unknown, targets: ShardTarget[], line: number): number[][] {
  const byTarget = (labels ?? {}) as Record<string, unknown>;
  return targets.map((t) => {
    const raw = byTarget[t.name];
    const list = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
    const idx = list.map((l) => t.labels.indexOf(String(l))).filter((i) => i >= 0);
    if (!t.multi && idx.length !== 1) throw new Error(`line ${line}: target "${t.name}" needs exactly one of its labels`);
    return idx;
  });
}

/** Returns the classifier shard of a dataset file, writing it unless a complete one exists. */
export async function ensureClassifierShard(p: { dataDir: string; sourcePath: string; sourceSha256: string; tokenizerPath: string; targets: ShardTarget[] }): Promise<ShardInfo> {
  const tokenizerSha = await sha256File(p.tokenizerPath);
  const targetsSha = createHash('sha256').update(JSON.stringify(p.targets)).digest('hex').slice(0, 16);
  const key = shardKey(p.sourceSha256, tokenizerSha, `classifier:${targetsSha}`);
  const dir = path.join(p.dataDir, 'shards', key);
  const metaPath = path.join(dir, 'meta.json');
  if (existsSync(metaPath)) {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { samples: number; tokens: number; trained_tokens: number };
    return { dir, key, reused: true, samples: meta.samples, tokens: meta.tokens, trainedTokens: meta.trained_tokens };
  }
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    const counts = await writeClassifierFiles(tmp, p.sourcePath, p.tokenizerPath, p.targets);
    await writeFile(path.join(tmp, 'meta.json'), JSON.stringify({ format: shardFormat, ...counts, tokenizer_sha256: tokenizerSha, source_sha256: p.sourceSha256 }));
    if (existsSync(metaPath)) await rm(tmp, { recursive: true, force: true }); // another worker finished first
    else await rename(tmp, dir);
    return { dir, key, reused: false, samples: counts.samples, tokens: counts.tokens, trainedTokens: counts.trained_tokens };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function writeClassifierFiles(dir: string, source: string, tokenizerPath: string, targets: ShardTarget[]) {
  const tokenizer = await loadTokenizer(tokenizerPath);
  const tokens = createWriteStream(path.join(dir, 'tokens.u32'));
  const mask = createWriteStream(path.join(dir, 'mask.u8'));
  const offsets = createWriteStream(path.join(dir, 'offsets.u64'));
  const rows: number[][][] = [];
  let total = 0;
  const offset = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  await writeChunk(offsets, offset(0));
  for await (const s of iterateValidSamples(source, { format: 'classifier' })) {
    const ids = classifierTokens(tokenizer, s.sample);
    const t = Buffer.alloc(ids.length * 4);
    ids.forEach((id, i) => t.writeUInt32LE(id, i * 4));
    await writeChunk(tokens, t);
    await writeChunk(mask, Buffer.alloc(ids.length, 1));
    rows.push(labelRow(s.sample.labels, targets, s.line));
    total += ids.length;
    await writeChunk(offsets, offset(total));
  }
  await Promise.all([closeStream(tokens), closeStream(mask), closeStream(offsets)]);
  await writeFile(path.join(dir, 'labels.json'), JSON.stringify({ targets, rows }));
  return { samples: rows.length, tokens: total, trained_tokens: total };
}
