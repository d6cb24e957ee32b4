import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ensureShard, loadTokenCounter, openShardWriter, validateDatasetFile, validateIntoShard } from './index.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const tokenizerPath = path.join(root, 'models', 'tiny-mistral', 'tokenizer.model.v3');
const corpus = readFileSync(path.join(root, 'test', 'fixtures', 'data', 'corpus.jsonl'), 'utf8')
  .split('\n').filter(Boolean).map((l) => JSON.stringify((JSON.parse(l) as { line: unknown }).line))
  .filter((l): l is string => typeof l === 'string' && !l.includes('image')); // tiny-mistral's tokenizer has no image settings (the worker's own writer would throw)

test('validation writes the shard once, byte-identical to the worker\'s, and the worker reuses it', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-shards-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const source = path.join(dir, 'data.jsonl');
  writeFileSync(source, `${corpus.join('\n')}\n`);
  const sourceSha256 = createHash('sha256').update(readFileSync(source)).digest('hex');
  const countTokens = await loadTokenCounter(tokenizerPath);
  const p = { sourcePath: source, sourceSha256, tokenizerPath };

  const report = await validateIntoShard({ ...p, dataDir: path.join(dir, 'a') }, { countTokens });
  assert.deepEqual(report, await validateDatasetFile(source, { format: 'chat', countTokens }), 'the same report as validation alone');
  assert.ok(report.valid_lines > 10 && report.valid_lines < report.lines, 'the corpus has valid and invalid lines');

  const reused = await ensureShard({ ...p, dataDir: path.join(dir, 'a') });
  assert.equal(reused.reused, true, 'the worker finds the shard validation wrote');
  assert.equal(reused.samples, report.valid_lines);
  assert.equal(reused.tokens, report.stats.tokens);
  const fresh = await ensureShard({ ...p, dataDir: path.join(dir, 'b') });
  assert.equal(fresh.reused, false);
  for (const f of ['tokens.u32', 'mask.u8', 'offsets.u64', 'meta.json']) {
    assert.ok(readFileSync(path.join(reused.dir, f)).equals(readFileSync(path.join(fresh.dir, f))), `${f} matches the worker's own`);
  }
  assert.deepEqual(await validateIntoShard({ ...p, dataDir: path.join(dir, 'a') }, { countTokens }), report, 'an existing shard: validation only');
});

// Shard writing when the disk fails: the three token streams each have an 'error' listener from
// the start, so a failure while another write is awaited is reported to the caller instead of
// killing the process (issue #13's audit of stream pipelines).
test('a shard writer whose folder cannot be written rejects on close and the process lives on', async () => {
  const missing = path.join(os.tmpdir(), `atelier-no-such-dir-${process.pid}`, 'shard');
  const writer = await openShardWriter(missing);
  await assert.rejects(writer.close(), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
  await assert.rejects(writer.add([1, 2], Buffer.from([1, 1])), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
});
