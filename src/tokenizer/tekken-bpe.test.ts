/**
 * The TypeScript tiktoken BPE against the `tiktoken` package's WASM core (the implementation it
 * replaced) on a small vocabulary where merge order matters, and the pattern rewrite.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tiktoken } from 'tiktoken';
import { compileTekkenPattern, TekkenBpe } from './tekken-bpe.ts';

const PATTERN = "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

test('Rust \\s is Unicode White_Space: U+0085 is space, U+FEFF is not; \\S inside a class is refused', () => {
  const re = compileTekkenPattern('\\s+') as RegExp;
  assert.ok(re.test('\u0085'));
  re.lastIndex = 0;
  assert.ok(!re.test('\uFEFF'));
  assert.equal(compileTekkenPattern('[\\S]'), null);
  assert.equal(compileTekkenPattern('('), null);
});

test('merges lowest rank first, leftmost on ties, exactly as tiktoken (WASM) does', () => {
  const merges = ['bc', 'ab', 'aa', 'aaa', 'cab', 'abc', ' a', ' ab', 'é', 'x1'];
  const tokens: Buffer[] = [];
  for (let b = 0; b < 256; b++) tokens.push(Buffer.from([b]));
  for (const m of merges) tokens.push(Buffer.from(m, 'utf8'));
  const wasm = new Tiktoken(tokens.map((t, r) => `${t.toString('base64')} ${r}`).join('\n'), {}, PATTERN);
  const js = new TekkenBpe(tokens.map((t) => t.toString('latin1')), compileTekkenPattern(PATTERN) as RegExp, 5);
  const texts = ['abc', 'aaaa', 'aaaaa', 'cabcab', ' ab abc  cab\n\n', 'x1 é\u00e9\uFEFF a', 'ab\u0085 ab', '12 3a', '\u{1F600}ab', ''];
  try {
    for (const text of texts) {
      const want = Array.from(wasm.encode_ordinary(text), (r) => r + 5);
      const got: number[] = [];
      js.encodeInto(text, got);
      assert.deepEqual(got, want, JSON.stringify(text));
      const again: number[] = [];
      js.encodeInto(text, again); // from the caches
      assert.deepEqual(again, want, `${JSON.stringify(text)} (cached)`);
    }
  } finally {
    wasm.free();
  }
});
