/**
 * Shards of a dataset with images (docs/contracts.md): images.bin / images.u64 / sample_images.u64
 * hold each image's raw bytes in the order of its [IMG] block, with the Pixtral tokenizer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ensureShard, loadTokenCounter, validateIntoShard } from './index.ts';
import { pngDataUrl, solidPng } from '../../test/helpers/draw-png.ts';
import { referenceDataDir, repoRoot, venvPython } from '../../test/helpers/test-paths.ts';
import { execFileSync } from 'node:child_process';

const u64s = (file: string) => { const b = readFileSync(file); return Array.from({ length: b.length / 8 }, (_, i) => Number(b.readBigUInt64LE(i * 8))); };
const u32s = (file: string) => { const b = readFileSync(file); return Array.from({ length: b.length / 4 }, (_, i) => b.readUInt32LE(i * 4)); };

const red = solidPng(40, 70, [255, 0, 0]);
const green = solidPng(100, 40, [0, 255, 0]);
const blue = solidPng(17, 33, [0, 0, 255]);
const user = (...parts: unknown[]) => ({ role: 'user', content: parts });
const text = (t: string) => ({ type: 'text', text: t });
const image = (b: Buffer) => ({ type: 'image_url', image_url: pngDataUrl(b) });
const lines = [
  { messages: [{ role: 'user', content: 'no image here' }, { role: 'assistant', content: 'ok' }] },
  // mistral-common moves a lone trailing image first: the block order is what counts.
  { messages: [user(text('what colour?'), image(red)), { role: 'assistant', content: 'red' }] },
  { messages: [user(image(green), text('and these?'), image(blue)), { role: 'assistant', content: 'green, blue' }] },
  { messages: [{ role: 'user', content: 'text again' }, { role: 'assistant', content: 'fine' }] },
];

test('a dataset with images gets images.bin, images.u64 and sample_images.u64 in [IMG] block order', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-img-shards-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const source = path.join(dir, 'data.jsonl');
  writeFileSync(source, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  const sourceSha256 = createHash('sha256').update(readFileSync(source)).digest('hex');
  const tokenizerPath = path.join(referenceDataDir(), 'tekken_240911.json');
  const p = { sourcePath: source, sourceSha256, tokenizerPath };

  const report = await validateIntoShard({ ...p, dataDir: path.join(dir, 'a') }, { countTokens: await loadTokenCounter(tokenizerPath) });
  assert.equal(report.valid_lines, 4, JSON.stringify(report.errors));
  const shard = await ensureShard({ ...p, dataDir: path.join(dir, 'a') });
  assert.equal(shard.reused, true);
  const f = (name: string) => path.join(shard.dir, name);
  const meta = JSON.parse(readFileSync(f('meta.json'), 'utf8')) as { images: number; image_token_ids: unknown };
  assert.equal(meta.images, 3);
  assert.deepEqual(meta.image_token_ids, { img: 10, break: 12, end: 13 });
  assert.deepEqual(u64s(f('sample_images.u64')), [0, 0, 1, 3, 3]);
  assert.deepEqual(u64s(f('images.u64')), [0, red.length, red.length + green.length, red.length + green.length + blue.length]);
  assert.ok(readFileSync(f('images.bin')).equals(Buffer.concat([red, green, blue])));

  // The [IMG_END] (id 13) count of each sample equals its image count, and the grid sizes follow
  // the images in that order: red 40x70 -> 3x5, green 100x40 -> 7x3, blue 17x33 -> 2x3.
  const tokens = u32s(f('tokens.u32'));
  const offsets = u64s(f('offsets.u64'));
  const grids = offsets.slice(0, -1).map((start, i) => {
    const ids = tokens.slice(start, offsets[i + 1]);
    const out: string[] = [];
    let cols = 0, rows = 0;
    for (const id of ids) {
      if (id === 10) cols += 1;
      else if (id === 12) rows += 1;
      else if (id === 13) { out.push(`${cols / (rows + 1)}x${rows + 1}`); cols = 0; rows = 0; }
    }
    return out;
  });
  assert.deepEqual(grids, [[], ['3x5'], ['7x3', '2x3'], []]);

  // The trainer reads what the worker wrote: batches carry the images of their blocks, in order.
  const py = execFileSync(venvPython, ['-c', [
    'import json, sys',
    'from trainer.data import Shard, ImageConfig, validation_batches',
    'b = validation_batches([Shard(sys.argv[1])], 4096, 8, images=ImageConfig(16, 1024))',
    'print(json.dumps([list(im.shape) for x in b for im in x.images]))',
  ].join('\n'), shard.dir], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.deepEqual(JSON.parse(py), [[3, 80, 48], [3, 48, 112], [3, 48, 32]]);

  // The worker's own writer gives the same bytes.
  const fresh = await ensureShard({ ...p, dataDir: path.join(dir, 'b') });
  for (const name of ['tokens.u32', 'images.bin', 'images.u64', 'sample_images.u64', 'meta.json']) {
    assert.ok(readFileSync(f(name)).equals(readFileSync(path.join(fresh.dir, name))), `${name} matches the worker's`);
  }
});

test('a text-only dataset has no image files and no "images" in meta.json', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-img-shards-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const source = path.join(dir, 'data.jsonl');
  writeFileSync(source, `${JSON.stringify(lines[0])}\n`);
  const sourceSha256 = createHash('sha256').update(readFileSync(source)).digest('hex');
  const shard = await ensureShard({ dataDir: dir, sourcePath: source, sourceSha256, tokenizerPath: path.join(referenceDataDir(), 'tekken_240911.json') });
  assert.equal(existsSync(path.join(shard.dir, 'images.bin')), false);
  assert.equal('images' in JSON.parse(readFileSync(path.join(shard.dir, 'meta.json'), 'utf8')), false);
});
