/**
 * The SentencePiece word cut (spm-bpe.ts `cutBigrams`): a first-seen word is cut between units that
 * no piece holds together and the segments are encoded apart. Checked against merging every word
 * whole, on random text made of what realistic datasets hold (JSON, code, digits, accents, CJK,
 * emoji as surrogate pairs, spaces, newlines, `▁`), with the v3 vocabulary checked into the repo.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSpmModel } from './sentencepiece-model.ts';
import { SpmBpe } from './spm-bpe.ts';

const ALPHABET = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...'{}[]":,._-/\\<>=()\'`*#@$%&|!?;+~^',
  ...'éèàçôüßñøåœ', ...'日本語の文字列中文字符串한국어', '\u{1F600}', '\u{1F680}', '\u2581', ' ', ' ', ' ', '\n', '\t',
  'the', 'tion', 'ing', '"id":', '```', 'http://', '://', '0.5', '\u0301',
];

/** Deterministic text of `n` alphabet entries (mulberry32). */
function randomText(seed: number, n: number): string {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return s;
}

test('cutting first-seen words where no merge can cross gives the ids of merging them whole', () => {
  const model = parseSpmModel(readFileSync(fileURLToPath(new URL('../../models/tiny-mistral/tokenizer.model.v3', import.meta.url))));
  const cut = new SpmBpe(model);
  const whole = new SpmBpe(model, false);
  let compared = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const text = randomText(seed, 1 + (seed % 97));
    const a: number[] = [];
    const b: number[] = [];
    cut.encodeInto(text, a);
    whole.encodeInto(text, b);
    assert.deepEqual(a, b, `text ${JSON.stringify(text)}`);
    compared += a.length;
  }
  // The cut must have been taken: JSON punctuation, digits and CJK split words in this vocabulary.
  assert.ok(compared > 50_000, `only ${compared} ids compared`);
});
