/** Fuzzing: no input makes the validator throw, and every problem carries a known code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataErrorCodes, resolveLimits, validateDatasetFile, validateLine } from './index.ts';

const limits = resolveLimits();
const known = new Set(Object.keys(dataErrorCodes));
const corpus = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/data/corpus.jsonl'), 'utf8')
  .trim().split('\n').map((l) => JSON.parse(l) as { line?: unknown; raw?: string });

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomJson(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 4 ? 5 : 8));
  const pick = ['role', 'content', 'messages', 'tool_calls', 'tools', 'function', 'id', 'labels', 'text', 'weight', 'image_url', 'type', 'x'];
  switch (k) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 3) - 1 + (r() < 0.2 ? 0.5 : 0);
    case 3: return ['user', 'assistant', 'tool', 'system', '', 'TX92Jm8Zi', '{}', 'data:image/png;base64,iVBORw0KGgo='][Math.floor(r() * 8)];
    case 4: return '\u0000\uFEFF\uD800';
    case 5: case 6: return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(r() * 5) }, () => [pick[Math.floor(r() * pick.length)], randomJson(r, depth + 1)]));
  }
}

function check(text: string) {
  const v = validateLine(text, { format: 'auto', limits, targets: [{ name: 'a', labels: ['b'] }] });
  for (const p of v.problems) assert.ok(known.has(p.code) && p.message.length > 0, p.code);
}

test('random JSON values and mutated corpus samples never throw', () => {
  const r = rng(42);
  for (let i = 0; i < 3000; i += 1) check(JSON.stringify(randomJson(r, 0)));
  for (let i = 0; i < 2000; i += 1) {
    const base = corpus[i % corpus.length];
    const text = base.raw ?? JSON.stringify(base.line);
    const at = Math.floor(r() * text.length);
    check(text.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + text.slice(at + 1));
    const parsed: unknown = base.line;
    if (parsed && typeof parsed === 'object') {
      const clone = JSON.parse(JSON.stringify(parsed)) as Record<string, unknown>;
      const keys = Object.keys(clone);
      if (keys.length) clone[keys[Math.floor(r() * keys.length)]] = randomJson(r, 2);
      check(JSON.stringify(clone));
    }
  }
});

test('deep nesting and huge values are reported, not crashed on', () => {
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  check(deep);
  check(`{"messages":${deep}}`);
  // Built as text: JSON.stringify itself overflows on 5000 levels.
  const schema = `${'{"type":"object","properties":{"x":'.repeat(5000)}{"type":"string"}${'}}'.repeat(5000)}`;
  const line = `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":${schema}}}]}`;
  const v = validateLine(line, { format: 'auto', limits });
  assert.deepEqual(v.problems.map((p) => p.code), ['tool_parameters_invalid']);
  check(JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(5_000_000) }, { role: 'assistant', content: 'y' }] }));
});

test('a file of random bytes validates without throwing', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'atelier-fuzz-'));
  try {
    const r = rng(7);
    const bytes = Buffer.from(Array.from({ length: 200_000 }, () => (r() < 0.02 ? 10 : Math.floor(r() * 256))));
    const file = path.join(dir, 'random.jsonl');
    writeFileSync(file, bytes);
    const report = await validateDatasetFile(file, { limits: { maxLineBytes: 1000 } });
    assert.ok(report.lines > 1000);
    assert.equal(report.valid_lines, 0);
    assert.ok(report.errors.every((e) => known.has(e.code)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
