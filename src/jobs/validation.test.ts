import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadTokenCounter, type FileReport } from '../data/index.ts';
import { validateJobFiles, type JobFile, type ReportCache } from './validation.ts';

const root = path.join(import.meta.dirname, '..', '..');
const tokenizer = path.join(root, 'models', 'tiny-mistral', 'tokenizer.model.v3');

function mapCache(): ReportCache & { puts: number } {
  const map = new Map<string, FileReport>();
  const cache = {
    puts: 0,
    get: async (key: string) => map.get(key) ?? null,
    put: async (key: string, report: FileReport) => { cache.puts += 1; map.set(key, report); },
  };
  return cache;
}

test('a second job over the same bytes and tokenizer reuses the stored report instead of re-validating', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-reports-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file: JobFile = { fileId: 'f1', filename: 'train.jsonl', path: path.join(dir, 'train.jsonl'), role: 'training', sha256: 'a'.repeat(64) };
  await writeFile(file.path, await readFile(path.join(root, 'examples', 'quickstart', 'train.jsonl')));
  const cache = mapCache();
  const opts = { count: await loadTokenCounter(tokenizer), jobType: 'completion' as const, invalidSampleSkipPercentage: 0, cache, tokenizerSha256: 't1' };

  const first = await validateJobFiles([file], opts);
  assert.ok(first.ok && first.dataTokens > 0);
  assert.equal(cache.puts, 1);

  // Same key, different bytes on disk: only a cache hit can still answer with the first counts.
  await writeFile(file.path, '{"messages": []}\n');
  assert.deepEqual(await validateJobFiles([file], opts), first);
  assert.equal(cache.puts, 1);

  // Another tokenizer is another key: the file is read again (and is now invalid).
  const other = await validateJobFiles([file], { ...opts, tokenizerSha256: 't2' });
  assert.equal(other.ok, false);
  assert.equal(cache.puts, 2);
});
