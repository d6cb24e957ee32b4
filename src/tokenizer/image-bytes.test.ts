/** The one image reader: type and size, and every truncation of a real file is a fault (never a crash). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspectImage, isImageFault } from './index.ts';
import { imageSizeFromData } from './images.ts';
import { solidPng } from '../../test/helpers/draw-png.ts';

// Made with Pillow (test/fixtures/data/make_corpus.py has the same bytes).
const samples = {
  png: solidPng(6, 4, [1, 2, 3]),
  jpeg: Buffer.from('/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAFAAcDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDJooorA+nP/9k=', 'base64'),
  webp: Buffer.from('UklGRh4AAABXRUJQVlA4TBEAAAAvA0AAAAdQjyKXp/+BiOh/AAA=', 'base64'),
  gif: Buffer.from('R0lGODdhAwACAIEAAMwAM8wzMwAAAAAAACwAAAAAAwACAAAICAADAAggMEBAADs=', 'base64'),
};
const sizes = { png: [6, 4], jpeg: [7, 5], webp: [4, 2], gif: [3, 2] };

test('complete PNG, JPEG, WebP and GIF files give their type and size', () => {
  for (const [type, bytes] of Object.entries(samples)) {
    const info = inspectImage(bytes);
    assert.ok(!isImageFault(info), `${type}: ${JSON.stringify(info)}`);
    assert.deepEqual([info.type, info.width, info.height, info.bytes], [type, ...sizes[type as keyof typeof sizes], bytes.length]);
  }
});

test('every truncation of each file is a corrupt fault with a reason', () => {
  for (const [type, bytes] of Object.entries(samples)) {
    const signature = type === 'jpeg' ? 3 : type === 'png' ? 8 : type === 'webp' ? 12 : 6;
    for (let n = signature; n < bytes.length; n++) {
      const info = inspectImage(bytes.subarray(0, n));
      assert.ok(isImageFault(info) && info.fault === 'corrupt' && info.reason.length > 0, `${type} cut at ${n} of ${bytes.length}`);
    }
  }
});

test('a flipped byte inside a PNG chunk fails its CRC', () => {
  const png = Buffer.from(samples.png);
  png[png.length - 20] ^= 0xff; // inside IDAT
  const info = inspectImage(png);
  assert.ok(isImageFault(info) && /CRC/.test(info.reason), JSON.stringify(info));
});

test('the tokenizer refuses a truncated image instead of counting its tokens', () => {
  assert.throws(() => imageSizeFromData(`data:image/png;base64,${samples.png.subarray(0, 30).toString('base64')}`), /unreadable image: PNG/);
  assert.deepEqual(imageSizeFromData(samples.webp.toString('base64')), { width: 4, height: 2 });
});

test('random bytes and random splices never throw', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const base = Object.values(samples)[i % 4] as Buffer;
    const b = Buffer.from(base);
    for (let k = 0; k < 3; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    assert.doesNotThrow(() => inspectImage(b));
  }
});
