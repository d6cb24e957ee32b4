/**
 * Property test: thousands of random conversations with hard text encode to exactly the tokens and
 * loss masks of mistral-common 1.12 (through oracle/encode_reference.py, one process per tokenizer).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadTokenizer } from './index.ts';
import { makeConversations } from '../../test/helpers/random-conversations.ts';
import { referenceEncode as reference, type RefLine } from '../../test/helpers/reference-oracle.ts';
import { referenceDataDir } from '../../test/helpers/test-paths.ts';

const COUNT = Number(process.env.TOKENIZER_PARITY_COUNT ?? 2000);
const cases = [
  ['v3 spm', 'mistral_instruct_tokenizer_240323.model.v3', 1, COUNT, 0.8],
  ['v3 tekken', 'tekken_240718.json', 2, COUNT, 0.8],
  ['v7 spm', 'mistral_instruct_tokenizer_241114.model.v7', 3, COUNT, 0.8],
  ['v2 spm', 'mistral_instruct_tokenizer_240216.model.v2', 4, 500, 0.8],
  // v1 has no tools: samples with tool calls fail in both encoders, the rest must match.
  ['v1 spm', 'tokenizer.model.v1', 5, 500, 0.3],
] as const;

for (const [label, name, seed, count, minShare] of cases) {
  test(`${count} random conversations encode like mistral-common (${label}, train: tokens and masks)`, async () => {
    const file = join(referenceDataDir(), name);
    const lines = makeConversations(count, seed);
    const want = reference(file, lines, 'train');
    assert.equal(want.length, lines.length);
    const tok = await loadTokenizer(file);
    let encoded = 0;
    lines.forEach((line, i) => {
      const ref = want[i] as RefLine;
      let got: { tokens: number[]; mask: number[] } | { error: string };
      try {
        got = tok.encodeLine(line, { mode: 'train' });
      } catch (e) {
        got = { error: (e as Error).message };
      }
      if (ref.error !== undefined || 'error' in got) {
        assert.equal('error' in got, ref.error !== undefined, `line ${i}: ${line}\nref: ${ref.error}\ngot: ${JSON.stringify(got).slice(0, 200)}`);
        return;
      }
      encoded++;
      assert.deepEqual(got.tokens, ref.tokens, `tokens differ on line ${i}: ${line}`);
      assert.deepEqual(got.mask, ref.mask, `mask differs on line ${i}: ${line}`);
    });
    // Most samples must be valid for the reference, or the test proves little.
    assert.ok(encoded > count * minShare, `only ${encoded} of ${count} samples encoded`);
  });
}

test('serve-mode prompts encode like mistral-common chat completions (v3 spm, v3 tekken, v7 spm)', async () => {
  const lines = makeConversations(300, 7).map((l) => {
    // Drop the final assistant turn so the conversation ends with a user or tool message.
    const s = JSON.parse(l) as { messages: { role: string }[] };
    while (s.messages.length && s.messages[s.messages.length - 1]?.role === 'assistant') s.messages.pop();
    return JSON.stringify(s);
  });
  for (const [, name] of cases.slice(0, 3)) {
    const file = join(referenceDataDir(), name);
    const want = reference(file, lines, 'serve');
    const tok = await loadTokenizer(file);
    let compared = 0;
    lines.forEach((line, i) => {
      const ref = want[i] as RefLine;
      if (ref.error !== undefined) return; // the reference's request validator is stricter than encoding
      compared++;
      assert.deepEqual(tok.encodeLine(line, { mode: 'serve' }).tokens, ref.tokens, `${name} line ${i}: ${line}`);
    });
    assert.ok(compared > 100, `${name}: only ${compared} serve samples accepted by the reference`);
  }
});
