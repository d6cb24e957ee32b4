/**
 * The benchmark corpus generator (bench/corpus): the same seed gives the same bytes, the corpus has
 * what real fine-tuning data has (French, CJK, code blocks, numbers, tool calls with JSON
 * arguments, escaped and raw non-ASCII), and Atelier's validator finds exactly the broken lines
 * the manifest lists, each with its expected code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { corpusSources, generateCorpus } from '../bench/corpus/generate.ts';
import { validateDatasetFile } from '../src/data/index.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'atelier-corpus-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the corpus is deterministic, varied, and its broken lines get their expected codes', async () => {
  const sources = corpusSources();
  const a = path.join(dir, 'a.jsonl');
  const b = path.join(dir, 'b.jsonl');
  const m = await generateCorpus(a, { mb: 0.6, seed: 7, brokenShare: 0.05, sources });
  await generateCorpus(b, { mb: 0.6, seed: 7, brokenShare: 0.05, sources });
  const text = readFileSync(a, 'utf8');
  assert.equal(text, readFileSync(b, 'utf8'));
  for (const [what, re] of [
    ['French', /\b(le|la|les|des|une?) [a-zàâçéèêëîïôûù]+/], ['Japanese', /[\u3040-\u30ff]/], ['Chinese', /[\u4e00-\u9fff]/],
    ['code blocks', /```(python|typescript|javascript)/], ['tool calls', /"tool_calls":\[\{"id":"[a-zA-Z0-9]{9}"/],
    ['escaped non-ASCII', /\\u00[c-f][0-9a-f]/], ['accents', /[éèàç]/],
  ] as const) assert.match(text, re, `no ${what}`);
  const report = await validateDatasetFile(a, { limits: { maxErrorsKept: 10_000 } });
  assert.equal(report.lines, m.lines);
  assert.equal(report.valid_lines, m.valid_lines);
  assert.ok(m.broken.length > 5 && new Set(m.broken.map((x) => x.code)).size >= 4, 'too few kinds of broken line');
  for (const { line, code } of m.broken) {
    const codes: string[] = report.errors.filter((e) => e.line === line).map((e) => e.code);
    assert.ok(codes.includes(code), `line ${line}: expected ${code}, got ${codes.join(', ')}`);
  }
});
