/**
 * The one reader of image bytes in TypeScript (dataset validation, the tokenizer's placeholder grid,
 * chat requests): the type, the pixel size, and a structural integrity check, without an image
 * library. The check walks each format's container to its end, so a truncated or spliced file is
 * refused here instead of crashing the trainer's decoder (PIL) hours later:
 * - PNG: every chunk's length and CRC-32, IHDR first, at least one IDAT, through IEND.
 * - JPEG: the marker segments up to the first SOS, a frame header (SOF) before it, and EOI at the end.
 * - WebP: the RIFF size equals the file size and the chunks tile the payload exactly.
 * - GIF: the blocks (extensions, image descriptors and their data sub-blocks) through the trailer.
 * - BMP: the file size field equals the file size.
 * It does not decode compressed pixel data (zlib, Huffman, VP8): a file whose container is intact
 * but whose compressed stream is damaged is caught by the trainer's decoder, as a clear ValueError.
 */
import { crc32 } from 'node:zlib';

export type ImageType = 'png' | 'jpeg' | 'webp' | 'gif' | 'bmp';

export type ImageInfo = { type: ImageType; width: number; height: number; bytes: number };

/** What is wrong with image bytes: not an image format we read, or a damaged/truncated one (with why). */
export type ImageFault = { fault: 'unknown' | 'corrupt'; reason: string };

type Dims = { width: number; height: number };

/** Reads and checks image bytes: the info, or the fault found. Never throws. */
export function inspectImage(b: Buffer): ImageInfo | ImageFault {
  const type = sniffType(b);
  if (!type) return { fault: 'unknown', reason: 'the bytes are not PNG, JPEG, WebP, GIF or BMP' };
  const dims = readers[type](b);
  if (typeof dims === 'string') return { fault: 'corrupt', reason: `${type.toUpperCase()}: ${dims}` };
  if (dims.width <= 0 || dims.height <= 0) return { fault: 'corrupt', reason: `${type.toUpperCase()}: zero width or height (${dims.width}x${dims.height})` };
  return { type, ...dims, bytes: b.length };
}

/** True when `inspectImage` found a fault. */
export function isImageFault(x: ImageInfo | ImageFault): x is ImageFault {
  return 'fault' in x;
}

/** The base64 payload of a `data:image/...;base64,` URL, or of bare base64; null for anything else. */
export function dataUrlPayload(source: string): string | null {
  if (/^data:/i.test(source)) {
    const m = /^data:image\/[a-zA-Z0-9.+-]+(;[a-zA-Z0-9=.+-]+)*;base64,/i.exec(source);
    return m ? source.slice(m[0].length) : null;
  }
  return /^[a-z][a-z0-9+.-]*:/i.test(source) ? null : source;
}

function sniffType(b: Buffer): ImageType | null {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (b.length >= 6 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6))) return 'gif';
  if (b.length >= 2 && b.toString('latin1', 0, 2) === 'BM') return 'bmp';
  return null;
}

const readers: Record<ImageType, (b: Buffer) => Dims | string> = { png: readPng, jpeg: readJpeg, webp: readWebp, gif: readGif, bmp: readBmp };

function readPng(b: Buffer): Dims | string {
  let pos = 8;
  let dims: Dims | null = null;
  let idat = false;
  while (pos + 12 <= b.length) {
    const length = b.readUInt32BE(pos);
    const type = b.toString('latin1', pos + 4, pos + 8);
    const end = pos + 12 + length;
    if (end > b.length) return `chunk ${JSON.stringify(type)} at byte ${pos} runs past the end of the file (truncated)`;
    if (crc32(b.subarray(pos + 4, pos + 8 + length)) !== b.readUInt32BE(pos + 8 + length)) return `chunk ${JSON.stringify(type)} at byte ${pos} has a wrong CRC (corrupt)`;
    if (!dims) {
      if (type !== 'IHDR' || length !== 13) return 'the first chunk is not a 13-byte IHDR';
      dims = { width: b.readUInt32BE(pos + 8), height: b.readUInt32BE(pos + 12) };
    }
    if (type === 'IDAT') idat = true;
    if (type === 'IEND') return idat ? dims : 'no IDAT chunk (no pixel data)';
    pos = end;
  }
  return 'the file ends before the IEND chunk (truncated)';
}

// Start-of-frame markers carry the dimensions (ITU T.81 Table B.1): C0-CF except C4, C8, CC.
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function readJpeg(b: Buffer): Dims | string {
  let pos = 2;
  let dims: Dims | null = null;
  while (pos + 4 <= b.length) {
    if (b[pos] !== 0xff) return `no marker at byte ${pos} (corrupt)`;
    const marker = b[pos + 1] as number;
    if (marker === 0xff) {
      pos += 1; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2;
      continue;
    }
    if (marker === 0xd8 || marker === 0xd9) return `unexpected ${marker === 0xd8 ? 'SOI' : 'EOI'} before the image data`;
    const length = b.readUInt16BE(pos + 2);
    if (length < 2 || pos + 2 + length > b.length) return `segment at byte ${pos} runs past the end of the file (truncated)`;
    if (SOF.has(marker)) {
      if (length < 7) return 'frame header too short';
      dims = { height: b.readUInt16BE(pos + 5), width: b.readUInt16BE(pos + 7) };
    }
    if (marker === 0xda) {
      if (!dims) return 'scan data before any frame header';
      // Entropy-coded data follows without lengths; the file must close with EOI.
      return b.length >= pos + 4 && b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9 ? dims : 'no EOI marker at the end (truncated)';
    }
    pos += 2 + length;
  }
  return 'the file ends before the image data (truncated)';
}

function readWebp(b: Buffer): Dims | string {
  const riffEnd = 8 + b.readUInt32LE(4);
  if (riffEnd !== b.length && riffEnd + 1 !== b.length) return `the RIFF header gives ${riffEnd} bytes but the file has ${b.length} (truncated or padded)`;
  let dims: Dims | null = null;
  let pos = 12;
  while (pos + 8 <= riffEnd) {
    const kind = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (body + size > riffEnd) return `chunk ${JSON.stringify(kind)} runs past the end of the file (truncated)`;
    dims ??= webpChunkDims(b, kind, body, size);
    pos = body + size + (size % 2);
  }
  if (pos !== riffEnd && pos !== riffEnd + 1) return 'the chunks do not fill the RIFF payload (corrupt)';
  return dims ?? 'no VP8, VP8L or VP8X chunk with a frame size';
}

function webpChunkDims(b: Buffer, kind: string, body: number, size: number): Dims | null {
  if (kind === 'VP8 ' && size >= 10 && b[body + 3] === 0x9d && b[body + 4] === 0x01 && b[body + 5] === 0x2a) {
    return { width: b.readUInt16LE(body + 6) & 0x3fff, height: b.readUInt16LE(body + 8) & 0x3fff };
  }
  if (kind === 'VP8L' && size >= 5 && b[body] === 0x2f) {
    const bits = b.readUInt32LE(body + 1);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (kind === 'VP8X' && size >= 10) return { width: b.readUIntLE(body + 4, 3) + 1, height: b.readUIntLE(body + 7, 3) + 1 };
  return null;
}

/** Skips GIF data sub-blocks (size byte, data; a zero size ends them); the position after, or -1 past the end. */
function skipSubBlocks(b: Buffer, pos: number): number {
  while (pos < b.length) {
    const n = b[pos] as number;
    pos += 1 + n;
    if (n === 0) return pos;
  }
  return -1;
}

function readGif(b: Buffer): Dims | string {
  if (b.length < 13) return 'the header is truncated';
  const dims = { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  const flags = b[10] as number;
  let pos = 13 + (flags & 0x80 ? 3 * (1 << ((flags & 7) + 1)) : 0);
  let frames = 0;
  while (pos < b.length) {
    const block = b[pos];
    if (block === 0x3b) return frames > 0 ? dims : 'no image in the file';
    if (block === 0x21) pos = skipSubBlocks(b, pos + 2);
    else if (block === 0x2c) {
      if (pos + 10 > b.length) break;
      const local = b[pos + 9] as number;
      pos += 10 + (local & 0x80 ? 3 * (1 << ((local & 7) + 1)) : 0) + 1; // + LZW minimum code size
      pos = skipSubBlocks(b, pos);
      frames += 1;
    } else return `unknown block 0x${(block ?? 0).toString(16)} at byte ${pos} (corrupt)`;
    if (pos < 0) break;
  }
  return 'the file ends before the GIF trailer (truncated)';
}

function readBmp(b: Buffer): Dims | string {
  if (b.length < 26) return 'the header is truncated';
  if (b.readUInt32LE(2) !== b.length) return `the header gives ${b.readUInt32LE(2)} bytes but the file has ${b.length} (truncated)`;
  return { width: b.readInt32LE(18), height: Math.abs(b.readInt32LE(22)) };
}
