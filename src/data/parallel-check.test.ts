/**
 * Checking a file on worker threads gives the same report as one thread: line numbers, errors in
 * order, statistics and token counts, across range edges that fall next to a BOM, CRLF, blank,
 * broken, too-long and non-UTF-8 lines and a last line without a newline.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { lineRanges } from './parallel-check.ts';
import { loadTokenCounter } from './token-counter.ts';
import { validateDatasetFile } from './validate-file.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'atelier-parallel-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tokenizerPath = path.join(import.meta.dirname, '..', '..', 'models', 'tiny-mistral', 'tokenizer.model.v3');

function datasetFile(): string {
  const parts: Buffer[] = [Buffer.from('\uFEFF')];
  for (let i = 0; i < 400; i++) {
    const user = `question ${i} ${'é日本'.repeat(i % 7)} ${'word '.repeat(i % 50)}`;
    const line = JSON.stringify({ messages: [{ role: 'user', content: user }, { role: 'assistant', content: `answer ${i}` }] });
    if (i % 37 === 5) parts.push(Buffer.from('\n'));
    else if (i % 41 === 7) parts.push(Buffer.from(`${line.slice(0, 30)}\n`));
    else if (i % 53 === 9) parts.push(Buffer.from(`{"messages": [{"role": "user", "content": "${'x'.repeat(5000)}"}]}\n`));
    else if (i % 59 === 11) parts.push(Buffer.concat([Buffer.from('{"messages": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]));
    else parts.push(Buffer.from(`${line}${i % 3 ? '\r\n' : '\n'}`));
  }
  parts.push(Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'last' }, { role: 'assistant', content: 'no newline' }] })));
  const file = path.join(dir, 'data.jsonl');
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

test('byte ranges cover the file and end just after a newline', async () => {
  const file = datasetFile();
  const bytes = readFileSync(file);
  const ranges = await lineRanges(file, bytes.length, 1000);
  assert.ok(ranges.length > 20);
  assert.equal(ranges[0]?.start, 0);
  assert.equal(ranges.at(-1)?.end, bytes.length);
  ranges.forEach((r, i) => {
    if (i > 0) assert.equal(r.start, ranges[i - 1]?.end);
    if (i < ranges.length - 1) assert.equal(bytes[r.end - 1], 0x0a);
  });
});

test('two and three threads report exactly what one thread does, tokens included', async () => {
  const file = datasetFile();
  const limits = { maxLineBytes: 3000, maxErrorsKept: 1000 };
  const countTokens = await loadTokenCounter(tokenizerPath);
  const one = await validateDatasetFile(file, { limits, countTokens });
  assert.ok(one.error_count > 20 && one.valid_lines > 300, 'the file has both valid and broken lines');
  for (const threads of [2, 3]) {
    const many = await validateDatasetFile(file, { limits, countTokens, parallel: { threads, tokenizerPath, chunkBytes: 2048 } });
    assert.deepEqual(many, one, `${threads} threads`);
  }
});
