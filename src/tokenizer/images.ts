/**
 * Image placeholders: the `[IMG]` grid mistral-common's ImageEncoder emits for an image, computed
 * from the image's pixel size (read from its header; pixels are the trainer's business).
 */
import type { ImageSettings } from './backend.ts';

export type ImageSize = { width: number; height: number };

/** Reads width/height from a `data:image/...;base64,` URL or bare base64 (PNG, JPEG, GIF, WebP, BMP). */
export function imageSizeFromData(source: string): ImageSize {
  if (/^(https?|file):/i.test(source)) {
    throw new Error('image URLs are not fetched: embed the image as a data:image/...;base64 URL');
  }
  const comma = source.startsWith('data:') ? source.indexOf(',') : -1;
  const buf = Buffer.from(comma >= 0 ? source.slice(comma + 1) : source, 'base64');
  const size = readImageSize(buf);
  if (!size) throw new Error('unrecognised image data (expected PNG, JPEG, GIF, WebP or BMP)');
  return size;
}

function readImageSize(b: Buffer): ImageSize | null {
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47) return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.length >= 10 && b.toString('latin1', 0, 3) === 'GIF') return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  if (b.length >= 26 && b.toString('latin1', 0, 2) === 'BM') return { width: b.readInt32LE(18), height: Math.abs(b.readInt32LE(22)) };
  if (b.length >= 30 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return readWebp(b);
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return readJpeg(b);
  return null;
}

function readWebp(b: Buffer): ImageSize | null {
  const kind = b.toString('latin1', 12, 16);
  if (kind === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  if (kind === 'VP8L') {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (kind === 'VP8X') return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  return null;
}

function readJpeg(b: Buffer): ImageSize | null {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1] as number;
    const len = b.readUInt16BE(i + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    }
    i += 2 + len;
  }
  return null;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The placeholder ids: h rows of w `[IMG]`, each closed by `[IMG_BREAK]`, the last by `[IMG_END]`. */
export function imageTokens(
  size: ImageSize,
  cfg: ImageSettings,
  ids: { img: number; imgBreak: number; imgEnd: number },
): number[] {
  let w = size.width;
  let h = size.height;
  const ratio = Math.max(h / cfg.maxImageSize, w / cfg.maxImageSize);
  if (ratio > 1) {
    w = Math.max(roundHalfEven(w / ratio), 1);
    h = Math.max(roundHalfEven(h / ratio), 1);
  }
  const cell = cfg.patchSize * cfg.spatialMergeSize;
  const cols = Math.floor((w - 1) / cell) + 1;
  const rows = Math.floor((h - 1) / cell) + 1;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out.push(ids.img);
    out.push(r === rows - 1 ? ids.imgEnd : ids.imgBreak);
  }
  return out;
}
