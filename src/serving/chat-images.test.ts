// Image chunks of chat requests: both dialects normalise to one sample, each image is named where it
// was, refusals name the chunk, and the images come out in the order of the prompt's [IMG] blocks
// (checked against the Pixtral tokenizer, tekken_240911 from mistral-common).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadTokenizer } from '../tokenizer/index.ts';
import { encodePng, pngDataUrl, solidPng } from '../../test/helpers/draw-png.ts';
import { referenceDataDir } from '../../test/helpers/test-paths.ts';
import { ChatRequestError, loadChatImages } from './chat-images.ts';
import { chatRequestSchema, normaliseChatRequest } from './chat-request.ts';

const settings = { chatMaxImages: 8, chatMaxImageBytes: 10 * 1024 * 1024, dataMaxImageSide: 10_000, imageUrlFetch: false, imageFetchTimeoutMs: 2000 };
const vision = { id: 'tiny-pixtral', vision: true };
const red = pngDataUrl(solidPng(32, 16, [255, 0, 0]));

function normalise(body: unknown) {
  return normaliseChatRequest(chatRequestSchema.parse(body));
}

function userWith(...content: unknown[]) {
  return { model: 'm', messages: [{ role: 'user', content }] };
}

/** Rejects with a ChatRequestError whose message matches and whose param is `param`. */
async function refused(p: Promise<unknown> | (() => unknown), message: RegExp, param: string): Promise<void> {
  const run = typeof p === 'function' ? async () => p() : () => p;
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof ChatRequestError, String(e));
    assert.match(e.message, message);
    assert.equal(e.param, param);
    return true;
  });
}

describe('image chunks in chat requests', () => {
  it('normalises the Mistral string, Mistral {url} and OpenAI {url, detail} forms to one sample', () => {
    const forms = [red, { url: red }, { url: red, detail: 'high' }];
    const samples = forms.map((image_url) => normalise(userWith({ type: 'text', text: 'Colour?' }, { type: 'image_url', image_url })));
    for (const s of samples) {
      assert.deepEqual(s.sample.messages, [{ role: 'user', content: [{ type: 'text', text: 'Colour?' }, { type: 'image_url', image_url: red }] }]);
      assert.deepEqual(s.images.map((i) => [i.where, i.param, i.url]), [['messages[0].content[1]', 'messages.0.content.1', red]]);
    }
  });

  it('keeps text-only content as a string, as before', () => {
    const p = normalise(userWith({ type: 'text', text: 'a' }, { type: 'text', text: 'b' }));
    assert.deepEqual(p.sample.messages, [{ role: 'user', content: 'ab' }]);
    assert.deepEqual(p.images, []);
  });

  it('refuses an image outside a user message and an image_url without a url, naming the chunk', async () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'image_url', image_url: red }] }, { role: 'user', content: 'x' }] };
    await refused(() => normalise(body), /messages\[1\]\.content\[0\]: images are only accepted in user messages/, 'messages.1.content.0');
    await refused(() => normalise(userWith({ type: 'text', text: 'a' }, { type: 'image_url', image_url: { href: red } })), /messages\[0\]\.content\[1\]: image_url must be a URL string/, 'messages.0.content.1');
  });

  it('refuses images on a text-only model, naming the first image chunk', async () => {
    const p = normalise(userWith({ type: 'text', text: 'Colour?' }, { type: 'image_url', image_url: red }));
    await refused(loadChatImages(p.images, { id: 'tiny-mistral', vision: false }, settings), /^messages\[0\]\.content\[1\]: 'tiny-mistral' is a text-only model/, 'messages.0.content.1');
  });

  it('refuses remote URLs while remote images are off, and other schemes', async () => {
    const p = normalise(userWith({ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }, { type: 'image_url', image_url: 'file:///etc/passwd' }));
    await refused(loadChatImages(p.images.slice(0, 1), vision, settings), /messages\[0\]\.content\[0\]: remote images are off on this server/, 'messages.0.content.0');
    await refused(loadChatImages(p.images.slice(1), vision, settings), /messages\[0\]\.content\[1\]: image_url must be a base64 data URL/, 'messages.0.content.1');
  });

  it('with remote images on, still refuses a URL whose host is not a public address (SSRF)', async () => {
    const on = { ...settings, imageUrlFetch: true };
    for (const url of ['http://127.0.0.1:9/cat.png', 'http://[::1]/cat.png', 'http://10.1.2.3/cat.png', 'http://169.254.169.254/latest/meta-data']) {
      const p = normalise(userWith({ type: 'image_url', image_url: url }));
      await refused(loadChatImages(p.images, vision, on), /messages\[0\]\.content\[0\]: .*public addresses/, 'messages.0.content.0');
    }
  });

  it('refuses too many images, too large ones and bytes that are not an image, each with its setting or reason', async () => {
    const many = normalise(userWith(...Array.from({ length: 3 }, () => ({ type: 'image_url', image_url: red }))));
    await refused(loadChatImages(many.images, vision, { ...settings, chatMaxImages: 2 }), /messages\[0\]\.content\[2\]: the request has 3 images; at most 2 .*chatMaxImages/, 'messages.0.content.2');
    await refused(loadChatImages(many.images, vision, { ...settings, chatMaxImageBytes: 50, dataMaxImageSide: 10_000 }), /messages\[0\]\.content\[0\]: image is \d+ bytes, above the limit of 50 bytes.*chatMaxImageBytes/, 'messages.0.content.0');
    const junk = normalise(userWith({ type: 'image_url', image_url: `data:image/png;base64,${Buffer.from('not an image at all').toString('base64')}` }));
    await refused(loadChatImages(junk.images, vision, settings), /messages\[0\]\.content\[0\]: the image bytes are not PNG, JPEG, WebP or GIF/, 'messages.0.content.0');
  });

  it('returns each image as base64 in the order of the prompt\'s [IMG] blocks, across merged and reordered turns', async () => {
    const tok = await loadTokenizer(join(referenceDataDir(), 'tekken_240911.json'));
    // Three sizes, so each block's grid tells which image it holds: 16x16 -> 1x1, 48x16 -> 3x1, 16x48 -> 1x3.
    const a = pngDataUrl(solidPng(16, 16, [255, 0, 0]));
    const b = pngDataUrl(encodePng(48, 16, (x) => (x < 24 ? [0, 255, 0] : [0, 0, 0])));
    const c = pngDataUrl(solidPng(16, 48, [0, 0, 255]));
    const p = normalise({
      model: 'm',
      messages: [
        // A lone trailing image is moved before its text by the encoder (mistral-common's rule) ...
        { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'image_url', image_url: a }] },
        { role: 'assistant', content: 'ok' },
        // ... and consecutive user turns are merged: the order of images among themselves is kept.
        { role: 'user', content: [{ type: 'image_url', image_url: { url: b } }, { type: 'text', text: 'then' }] },
        { role: 'user', content: [{ type: 'text', text: 'and' }, { type: 'image_url', image_url: { url: c, detail: 'low' } }] },
      ],
    });
    const prompt = tok.encodeChat(p.sample, { mode: 'serve' }).tokens;
    const firstText = tok.encodeText('first')[0];
    assert.ok(prompt.indexOf(tok.special.imgEnd) < prompt.indexOf(firstText as number), 'the first turn\'s image was moved before its text');
    const grids: [number, number][] = [];
    let cols = 0;
    let rows = 0;
    for (const t of prompt) {
      if (t === tok.special.img) cols++;
      else if (t === tok.special.imgBreak || t === tok.special.imgEnd) {
        rows++;
        if (t === tok.special.imgEnd) {
          grids.push([cols / rows, rows]);
          cols = 0;
          rows = 0;
        }
      }
    }
    assert.deepEqual(grids, [[1, 1], [3, 1], [1, 3]]);
    const loaded = await loadChatImages(p.images, vision, settings);
    assert.deepEqual(loaded, [a, b, c].map((u) => u.slice(u.indexOf(',') + 1)));
  });
});
