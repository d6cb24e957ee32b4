// Classifier shards: tokens as the contract says (text = BOS + text; messages = train-mode
// rendering), an all-ones mask, labels.json rows in target order, reuse by key; and the dataset
// rule that lets a multi_class target have no label while a single_class one must have one.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { resolveLimits, validateLine } from '../data/index.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { ensureClassifierShard, shardTargets } from './classifier-shards.ts';
import { repoRoot } from '../models/index.ts';

const tokenizerPath = path.join(repoRoot, 'models', 'tiny-mistral', 'tokenizer.model.v3');
const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-clsshard-'));
after(() => rm(dir, { recursive: true, force: true }));

const targets = shardTargets([
  { name: 'topic', labels: ['apple', 'river'], loss_function: 'single_class' },
  { name: 'colours', labels: ['red', 'blue'], loss_function: 'multi_class' },
]);
const conversation = [{ role: 'user', content: 'is it red?' }, { role: 'assistant', content: 'a red river' }];
const lines = [
  { text: 'an apple', labels: { topic: 'apple', colours: [] } },
  { messages: conversation, labels: { topic: 'river', colours: ['blue', 'red'] } },
];

test('a classifier shard holds BOS+text / train-mode conversation tokens, all-ones mask and label indices per target', async () => {
  const source = path.join(dir, 'data.jsonl');
  await writeFile(source, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const info = await ensureClassifierShard({ dataDir: dir, sourcePath: source, sourceSha256: 'abc', tokenizerPath, targets });
  const tokenizer = await loadTokenizer(tokenizerPath);
  const expected = [tokenizer.encodeText('an apple', { bos: true }), tokenizer.encodeChat({ messages: conversation }, { mode: 'train' }).tokens];
  const tokens = await readFile(path.join(info.dir, 'tokens.u32'));
  const ids = Array.from({ length: tokens.length / 4 }, (_, i) => tokens.readUInt32LE(i * 4));
  assert.deepEqual(ids, expected.flat());
  assert.deepEqual([...(await readFile(path.join(info.dir, 'mask.u8')))], ids.map(() => 1));
  const offsets = await readFile(path.join(info.dir, 'offsets.u64'));
  assert.deepEqual([0, 1, 2].map((i) => Number(offsets.readBigUInt64LE(i * 8))), [0, expected[0].length, ids.length]);
  const labels = JSON.parse(await readFile(path.join(info.dir, 'labels.json'), 'utf8'));
  assert.deepEqual(labels, { targets, rows: [[[0], []], [[1], [1, 0]]] });
  const meta = JSON.parse(await readFile(path.join(info.dir, 'meta.json'), 'utf8'));
  assert.equal(meta.samples, 2);
  assert.equal(meta.trained_tokens, ids.length);
  const again = await ensureClassifierShard({ dataDir: dir, sourcePath: source, sourceSha256: 'abc', tokenizerPath, targets });
  assert.equal(again.reused, true);
  const otherTargets = await ensureClassifierShard({ dataDir: dir, sourcePath: source, sourceSha256: 'abc', tokenizerPath, targets: [...targets].reverse() });
  assert.notEqual(otherTargets.key, info.key, 'labels.json depends on the targets, so they are part of the key');
});

test('an empty label list is valid for a multi_class target and labels_invalid for a single_class one', () => {
  const jobTargets = [{ name: 'topic', labels: ['apple', 'river'], loss_function: 'single_class' as const }, { name: 'colours', labels: ['red', 'blue'], loss_function: 'multi_class' as const }];
  const check = (labels: unknown) => validateLine(JSON.stringify({ text: 'x', labels }), { format: 'classifier', targets: jobTargets, limits: resolveLimits() }).problems;
  assert.deepEqual(check({ topic: 'apple', colours: [] }), []);
  const bad = check({ topic: [], colours: ['red'] });
  assert.deepEqual(bad.map((p) => p.code), ['labels_invalid']);
  assert.match(bad[0]?.message ?? '', /single_class; give exactly one label/);
});
