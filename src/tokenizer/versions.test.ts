/**
 * v11 and v13 (no such file ships with mistral-common: built here from the Nemo tekken file with
 * the extra special tokens listed, as mistral-common's own tests do) and images (v7m1 spm, Pixtral
 * tekken), each compared with mistral-common through the oracle.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pngDataUrl as toDataUrl, solidPng } from '../../test/helpers/draw-png.ts';
import { loadTokenizer } from './index.ts';
import { makeConversations } from '../../test/helpers/random-conversations.ts';
import { referenceEncode } from '../../test/helpers/reference-oracle.ts';
import { referenceDataDir } from '../../test/helpers/test-paths.ts';
import { writeSyntheticTekken } from '../../test/helpers/synthetic-tekken.ts';

const dir = mkdtempSync(join(tmpdir(), 'atelier-tok-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const version of ['v11', 'v13']) {
  test(`random conversations encode like mistral-common with a tekken ${version} file (tokens and masks)`, async () => {
    const path = writeSyntheticTekken(dir, version);
    const lines = makeConversations(600, version === 'v11' ? 11 : 13);
    const want = referenceEncode(path, lines, 'train');
    const tok = await loadTokenizer(path);
    assert.equal(tok.version, version);
    let compared = 0;
    lines.forEach((line, i) => {
      const ref = want[i];
      let got: { tokens: number[]; mask: number[] } | null = null;
      try {
        got = tok.encodeLine(line, { mode: 'train' });
      } catch (e) {
        assert.ok(ref?.error, `line ${i} failed here only: ${(e as Error).message}`);
        return;
      }
      assert.equal(ref?.error, undefined, `line ${i} failed in the reference only: ${ref?.error}`);
      compared++;
      assert.deepEqual(got.tokens, ref?.tokens, `tokens differ on line ${i}: ${line}`);
      assert.deepEqual(got.mask, ref?.mask, `mask differs on line ${i}`);
    });
    assert.ok(compared > 400, `only ${compared} lines compared`);
  });
}

/** A valid w x h white PNG, as a data URL. */
function pngDataUrl(w: number, h: number): string {
  return toDataUrl(solidPng(w, h, [255, 255, 255]));
}

for (const name of ['mistral_instruct_tokenizer_241114.model.v7m1', 'tekken_240911.json']) {
  test(`image grids match mistral-common (${name})`, async () => {
    const sizes = [[100, 40], [16, 16], [17, 33], [1024, 1024], [3000, 1000], [2000, 5], [1025, 1023]];
    const lines = sizes.map(([w, h]) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Describe' }, { type: 'image_url', image_url: { url: pngDataUrl(w as number, h as number) } }] },
          { role: 'assistant', content: 'A white image.' },
        ],
      }),
    );
    const file = join(referenceDataDir(), name);
    const want = referenceEncode(file, lines, 'train');
    const tok = await loadTokenizer(file);
    lines.forEach((line, i) => {
      assert.equal(want[i]?.error, undefined, want[i]?.error);
      const enc = tok.encodeLine(line, { mode: 'train' });
      assert.deepEqual({ tokens: enc.tokens, mask: enc.mask }, { tokens: want[i]?.tokens, mask: want[i]?.mask }, `size ${sizes[i]}`);
      assert.equal(enc.images.length, 1, 'the image bytes come with the tokens');
    });
  });
}
