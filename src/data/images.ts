/**
 * Image checks for vision samples: an `image_url` must be a base64 data URL whose bytes are a real
 * PNG, JPEG, WebP or GIF. The header is read here (no image library) to get the type and the
 * dimensions, which is enough to catch truncated, mislabelled or non-image payloads.
 */
import type { LineProblem } from './errors.ts';

export type ImageInfo = { type: 'png' | 'jpeg' | 'webp' | 'gif'; width: number; height: number; bytes: number };

const DATA_URL = /^data:image\/[a-zA-Z0-9.+-]+(;[a-zA-Z0-9=.+-]+)*;base64,/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Checks one image URL; returns the image's header info or the problem found. */
export function checkImageUrl(url: string, maxBytes: number, where: string): ImageInfo | LineProblem {
  const head = DATA_URL.exec(url);
  if (!head) {
    const shown = url.length > 40 ? `${url.slice(0, 40)}…` : url;
    return {
      code: 'image_url_invalid',
      message: `${where}: image_url must be a data URL "data:image/<type>;base64,<data>" (remote and file URLs are not accepted in training data); found ${JSON.stringify(shown)}`,
    };
  }
  const data = url.slice(head[0].length).replace(/\s+/g, '');
  if (data.length === 0 || !BASE64.test(data) || data.length % 4 === 1) {
    return { code: 'image_data_invalid', message: `${where}: the image data URL does not hold valid base64` };
  }
  const size = Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
  if (size > maxBytes) {
    return { code: 'image_too_large', message: `${where}: image is ${size} bytes, above the limit of ${maxBytes} bytes; resize or recompress it` };
  }
  const info = readImageHeader(Buffer.from(data, 'base64'));
  if (info === 'unknown') {
    return { code: 'image_type_unsupported', message: `${where}: the image bytes are not PNG, JPEG, WebP or GIF` };
  }
  if (info === 'corrupt') {
    return { code: 'image_corrupt', message: `${where}: the image header is truncated or gives a zero width or height` };
  }
  return info;
}

/** Reads type and dimensions from image bytes; 'unknown' for other formats, 'corrupt' for bad headers. */
function readImageHeader(b: Buffer): ImageInfo | 'unknown' | 'corrupt' {
  const dims = sniff(b);
  if (dims === 'unknown' || dims === 'corrupt') return dims;
  if (dims.width <= 0 || dims.height <= 0) return 'corrupt';
  return { ...dims, bytes: b.length };
}

function sniff(b: Buffer): Omit<ImageInfo, 'bytes'> | 'unknown' | 'corrupt' {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) {
    if (b.length < 24 || b.toString('latin1', 12, 16) !== 'IHDR') return 'corrupt';
    return { type: 'png', width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  if (b.length >= 6 && (b.toString('latin1', 0, 6) === 'GIF87a' || b.toString('latin1', 0, 6) === 'GIF89a')) {
    if (b.length < 10) return 'corrupt';
    return { type: 'gif', width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  }
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return sniffWebp(b);
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return sniffJpeg(b);
  return 'unknown';
}

function sniffWebp(b: Buffer): Omit<ImageInfo, 'bytes'> | 'corrupt' {
  const chunk = b.length >= 16 ? b.toString('latin1', 12, 16) : '';
  if (chunk === 'VP8 ' && b.length >= 30 && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) {
    return { type: 'webp', width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L' && b.length >= 25 && b[20] === 0x2f) {
    const bits = b.readUInt32LE(21);
    return { type: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X' && b.length >= 30) {
    return { type: 'webp', width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  }
  return 'corrupt';
}

// Start-of-frame markers carry the dimensions (ITU T.81 Table B.1): C0-CF except C4, C8, CC.
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function sniffJpeg(b: Buffer): Omit<ImageInfo, 'bytes'> | 'corrupt' {
  let pos = 2;
  while (pos + 4 <= b.length) {
    if (b[pos] !== 0xff) return 'corrupt';
    const marker = b[pos + 1];
    if (marker === 0xff) {
      pos += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return 'corrupt'; // end of image or scan before any frame header
    const length = b.readUInt16BE(pos + 2);
    if (SOF.has(marker)) {
      if (pos + 9 > b.length) return 'corrupt';
      return { type: 'jpeg', height: b.readUInt16BE(pos + 5), width: b.readUInt16BE(pos + 7) };
    }
    if (length < 2) return 'corrupt';
    pos += 2 + length;
  }
  return 'corrupt';
}
