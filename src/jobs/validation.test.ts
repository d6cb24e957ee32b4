import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadTokenCounter, type FileReport } from '../data/index.ts';
import { validateJobFiles, type JobFile, type ReportCache } from './validation.ts';
import { pngDataUrl, solidPng } from '../../test/helpers/draw-png.ts';
import { referenceDataDir } from '../../test/helpers/test-paths.ts';

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

const imageLine = (w: number, h: number) => JSON.stringify({ messages: [
  { role: 'user', content: [{ type: 'text', text: 'what colour?' }, { type: 'image_url', image_url: pngDataUrl(solidPng(w, h, [255, 0, 0])) }] },
  { role: 'assistant', content: 'red' },
] });
const textLine = JSON.stringify({ messages: [{ role: 'user', content: 'what colour?' }, { role: 'assistant', content: 'red' }] });

test('a job with images on a text-only base model is refused naming the line, whatever the skip percentage', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-textonly-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file: JobFile = { fileId: 'f1', filename: 'train.jsonl', path: path.join(dir, 'train.jsonl'), role: 'training', sha256: 'b'.repeat(64) };
  await writeFile(file.path, `${textLine}\n${textLine}\n${imageLine(40, 70)}\n${textLine}\n`);
  const count = await loadTokenCounter(path.join(referenceDataDir(), 'tekken_240911.json'));
  const refused = await validateJobFiles([file], { count, jobType: 'completion', invalidSampleSkipPercentage: 1, imagesAllowed: false });
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.message, /^train\.jsonl \(f1\) line 3: image_model_text_only: messages\[0\] \(user\) content\[1\]: the base model is text-only/);
  const accepted = await validateJobFiles([file], { count, jobType: 'completion', invalidSampleSkipPercentage: 0, imagesAllowed: true });
  assert.ok(accepted.ok);
});

test('data tokens count the image placeholders the tokenizer emits', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-imgtokens-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const count = await loadTokenCounter(path.join(referenceDataDir(), 'tekken_240911.json'));
  const tokensOf = async (line: string, name: string) => {
    const file: JobFile = { fileId: name, filename: `${name}.jsonl`, path: path.join(dir, `${name}.jsonl`), role: 'training', sha256: name.padEnd(64, '0') };
    await writeFile(file.path, `${line}\n`);
    const r = await validateJobFiles([file], { count, jobType: 'completion', invalidSampleSkipPercentage: 0 });
    assert.ok(r.ok);
    return r.dataTokens;
  };
  const text = await tokensOf(textLine, 'text');
  // 40x70 on Pixtral (patch 16): 3 cols x 5 rows of [IMG] + 5 row ends = 20 tokens; 1024x1024: 64 x 65 = 4160.
  assert.equal(await tokensOf(imageLine(40, 70), 'small'), text + 20);
  assert.equal(await tokensOf(imageLine(1024, 1024), 'large'), text + 4160);
});
