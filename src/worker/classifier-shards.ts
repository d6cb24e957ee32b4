/**
 * Classifier shards (docs/contracts.md, docs/classifiers.md): the completion shard files
 * (tokens.u32, mask.u8 all ones, offsets.u64, meta.json written last) plus labels.json
 * `{"targets":[{name, labels, multi}], "rows":[[[label indices] per target] per sample]}`.
 * `text` is `encodeText(text, {bos: true})`; `messages` is the conversation as the tokenizer renders
 * it in train mode (the whole conversation, a final assistant turn included). Keyed like completion
 * shards plus the targets, since labels.json depends on them; written in a temp folder and renamed.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureShardDir, iterateValidSamples, openShardWriter, sha256File, shardKey, type ClassifierTarget, type ShardCounts, type ShardInfo } from '../data/index.ts';
import { loadTokenizer, type Tokenizer } from '../tokenizer/index.ts';

/** A job's target as the trainer reads it (labels.json and the config's classifier block). */
export type ShardTarget = { name: string; labels: string[]; multi: boolean };

/** The job's targets with Mistral's defaults resolved (loss_function single_class). */
export function shardTargets(targets: ClassifierTarget[]): ShardTarget[] {
  return targets.map((t) => ({ name: t.name, labels: t.labels, multi: t.loss_function === 'multi_class' }));
}

/** Tokens of one classifier sample: text with BOS, or the conversation in train mode. */
function classifierTokens(tokenizer: Tokenizer, sample: Record<string, unknown>): number[] {
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
  const tokenizerSha256 = await sha256File(p.tokenizerPath);
  const targetsSha = createHash('sha256').update(JSON.stringify(p.targets)).digest('hex').slice(0, 16);
  const key = shardKey(p.sourceSha256, tokenizerSha256, `classifier:${targetsSha}`);
  return ensureShardDir({ dataDir: p.dataDir, key, sourceSha256: p.sourceSha256, tokenizerSha256 }, (tmp) => writeClassifierFiles(tmp, p.sourcePath, p.tokenizerPath, p.targets));
}

async function writeClassifierFiles(dir: string, source: string, tokenizerPath: string, targets: ShardTarget[]): Promise<ShardCounts> {
  const tokenizer = await loadTokenizer(tokenizerPath);
  const writer = await openShardWriter(dir);
  const rows: number[][][] = [];
  for await (const s of iterateValidSamples(source, { format: 'classifier' })) {
    const ids = classifierTokens(tokenizer, s.sample);
    await writer.add(ids, Buffer.alloc(ids.length, 1)); // every token is input: trained_tokens = tokens
    rows.push(labelRow(s.sample.labels, targets, s.line));
  }
  const counts = await writer.close();
  await writeFile(path.join(dir, 'labels.json'), JSON.stringify({ targets, rows }));
  return counts;
}
