import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { iterateValidSamples, parseSize, reformatFile, splitFile, validateDatasetFile, validateLine, resolveLimits } from './index.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'atelier-data-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const good = JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }] });
const file = (name: string, body: string | Buffer) => {
  const p = path.join(dir, name);
  writeFileSync(p, body);
  return p;
};
const codes = (r: { errors: { line: number; code: string }[] }) => r.errors.map((e) => `${e.line}:${e.code}`);

test('BOM, CRLF and a missing final newline are accepted', async () => {
  const r = await validateDatasetFile(file('bom.jsonl', `\uFEFF${good}\r\n${good}\r\n${good}`));
  assert.deepEqual(codes(r), []);
  assert.equal(r.lines, 3);
  assert.equal(r.valid_lines, 3);
  assert.equal(r.stats.assistant_turns_trained, 3);
});

test('blank lines at the end of a file are not samples; a blank line between samples still is', async () => {
  const trailing = await validateDatasetFile(file('trailing.jsonl', `${good}\n${good}\n\n \r\n`));
  assert.deepEqual(codes(trailing), []);
  assert.equal(trailing.valid_lines, 2);
  assert.deepEqual(codes(await validateDatasetFile(file('inner.jsonl', `${good}\n\n${good}\n\n`))), ['2:line_blank']);
});

test('invalid UTF-8 and over-long lines are reported with their line numbers', async () => {
  const p = file('bad.jsonl', Buffer.concat([Buffer.from(`${good}\n`), Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), Buffer.from(`${'x'.repeat(500)}\n${good}\n`)]));
  const r = await validateDatasetFile(p, { limits: { maxLineBytes: 200 } });
  assert.deepEqual(codes(r), ['2:line_invalid_utf8', '3:line_too_long']);
  assert.match(r.errors[0].message, /byte 1/);
  assert.equal(r.valid_lines, 2);
});

test('missing files, directories, size and line-count limits are file-level errors', async () => {
  assert.deepEqual(codes(await validateDatasetFile(path.join(dir, 'nope.jsonl'))), ['0:file_unreadable']);
  assert.deepEqual(codes(await validateDatasetFile(dir)), ['0:file_unreadable']);
  const p = file('big.jsonl', `${good}\n${good}\n`);
  assert.deepEqual(codes(await validateDatasetFile(p, { role: 'validation', limits: { maxValidationFileBytes: 100 } })), ['0:file_too_large']);
  assert.deepEqual(codes(await validateDatasetFile(p, { limits: { minLines: 10 } })), ['0:file_too_few_lines']);
  assert.deepEqual(codes(await validateDatasetFile(file('empty.jsonl', ''))), ['0:file_too_few_lines']);
});

test('the stored error list is capped but every error is counted', async () => {
  const r = await validateDatasetFile(file('many.jsonl', 'x\n'.repeat(50)), { limits: { maxErrorsKept: 5 } });
  assert.equal(r.error_count, 50);
  assert.equal(r.errors.length, 5);
  assert.equal(r.errors_truncated, true);
});

test('an image above the size limit is image_too_large', () => {
  const png = Buffer.alloc(400);
  const line = JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: `data:image/png;base64,${png.toString('base64')}` }] }, { role: 'assistant', content: 'x' }] });
  const v = validateLine(line, { format: 'auto', limits: { ...resolveLimits(), maxImageBytes: 100 } });
  assert.deepEqual(v.problems.map((p) => p.code), ['image_too_large']);
});

test('an image for a text-only base model is image_model_text_only', () => {
  const line = JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: 'data:image/png;base64,AAAA' }] }, { role: 'assistant', content: 'x' }] });
  const v = validateLine(line, { format: 'auto', limits: { ...resolveLimits(), imagesAllowed: false } });
  assert.deepEqual(v.problems.map((p) => p.code), ['image_model_text_only']);
  assert.match(v.problems[0]?.message ?? '', /content\[1\]: the base model is text-only/);
});

test('token counting is pluggable and a tokenizer failure is tokenize_failed', async () => {
  const p = file('tok.jsonl', `${good}\n${JSON.stringify({ messages: [{ role: 'user', content: 'boom' }, { role: 'assistant', content: 'x' }] })}\n`);
  const r = await validateDatasetFile(p, {
    countTokens: (s) => {
      if (JSON.stringify(s).includes('boom')) throw new Error('cannot encode');
      return { tokens: 7, trained: 3 };
    },
  });
  assert.deepEqual(codes(r), ['2:tokenize_failed']);
  assert.equal(r.stats.tokens, 7);
  assert.equal(r.stats.trained_tokens, 3);
  assert.deepEqual(r.stats.longest_sample_tokens, { line: 1, tokens: 7 });
});

test('iterateValidSamples yields only valid samples with their line numbers', async () => {
  const p = file('mixed.jsonl', `${good}\nnope\n${good}\n`);
  const seen = [];
  for await (const s of iterateValidSamples(p)) seen.push([s.line, s.format, (s.sample.messages as unknown[]).length]);
  assert.deepEqual(seen, [[1, 'chat', 2], [3, 'chat', 2]]);
});

test('stats count turns, trained turns, tool calls and the longest sample', async () => {
  const tools = [{ type: 'function', function: { name: 'f', description: 'd', parameters: {} } }];
  const call = { role: 'assistant', tool_calls: [{ id: 'abcDEF123', type: 'function', function: { name: 'f', arguments: '{}' } }] };
  const s2 = JSON.stringify({ tools, messages: [{ role: 'user', content: 'q' }, { ...call, weight: 0 }, { role: 'tool', tool_call_id: 'abcDEF123', content: '1' }, { role: 'assistant', content: 'a' }] });
  const r = await validateDatasetFile(file('stats.jsonl', `${good}\n${s2}\n`));
  assert.deepEqual(codes(r), []);
  const s = r.stats;
  assert.deepEqual([s.samples, s.turns, s.assistant_turns, s.assistant_turns_trained, s.tool_calls, s.images], [2, 6, 3, 2, 1, 0]);
  assert.equal(s.longest_sample?.line, 2);
  assert.equal(r.format, 'chat');
});

test('reformat converts legacy and ShareGPT lines, ties tool results to calls and drops no line', async () => {
  const legacy = { functions: [{ name: 'f', description: 'd', parameters: {} }], messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: null, function_call: { name: 'f', arguments: { a: 1 } } }, { role: 'function', name: 'f', content: '1' }, { role: 'assistant', content: 'done' }, { role: 'user', content: 'thanks' }] };
  const sharegpt = { conversations: [{ from: 'system', value: 'sys' }, { from: 'human', value: 'hi' }, { from: 'gpt', value: 'hello' }] };
  const p = file('legacy.jsonl', `${JSON.stringify(legacy)}\n${JSON.stringify(sharegpt)}\n{"messages":[{"role":"user","content":"only user"}]}\nnot json\n`);
  const out = path.join(dir, 'legacy.out.jsonl');
  const report = await reformatFile(p, out);
  assert.equal(report.lines, 4);
  assert.equal(report.changed_lines, 2);
  assert.deepEqual(report.unrepaired.map((u) => u.line), [3, 4]);
  assert.equal(report.changes.trailing_turns_removed, 1);
  assert.equal(report.changes.function_role_to_tool, 1);
  const r = await validateDatasetFile(out);
  assert.deepEqual(codes(r), ['3:last_not_assistant', '4:line_invalid_json']);
  const first = JSON.parse(readFileSync(out, 'utf8').split('\n')[0]);
  assert.match(first.messages[1].tool_calls[0].id, /^[a-zA-Z0-9]{9}$/);
  assert.equal(first.messages[2].tool_call_id, first.messages[1].tool_calls[0].id);
  const again = path.join(dir, 'legacy.out2.jsonl');
  await reformatFile(p, again);
  assert.equal(readFileSync(again, 'utf8'), readFileSync(out, 'utf8'), 'generated ids are deterministic');
});

test('split keeps lines whole and parts under the size', async () => {
  const p = file('split.jsonl', `${good}\n`.repeat(10));
  const r = await splitFile(p, good.length * 3 + 3);
  assert.deepEqual(r.parts.map((x) => x.lines), [3, 3, 3, 1]);
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('split.part-')).sort()[0], 'split.part-001.jsonl');
  assert.equal(r.parts.map((x) => readFileSync(x.path, 'utf8')).join(''), readFileSync(p, 'utf8'));
  assert.equal(parseSize('500MB'), 500e6);
  assert.equal(parseSize('1.5KiB'), 1536);
  assert.equal(parseSize('5 parsecs'), null);
});
