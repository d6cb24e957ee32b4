/**
 * Streaming JSONL line reader. Reads the file in 1 MiB chunks and hands out one line at a time,
 * so memory stays bounded by the longest accepted line whatever the file size. A line longer than
 * the limit is skipped (counted, never held) and reported by its caller.
 */
import { createReadStream } from 'node:fs';
import { isUtf8 } from 'node:buffer';

export type RawLine =
  | { line: number; kind: 'text'; text: string; bytes: number }
  | { line: number; kind: 'too_long'; bytes: number }
  | { line: number; kind: 'invalid_utf8'; bytes: number; offset: number };

const NEWLINE = 0x0a;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A byte range of a file, [start, end); lines are numbered from 1 within it. */
export type ByteRange = { start: number; end: number };

/**
 * Yields every line of a file, or of a byte range of it that starts at a line start (1-based
 * numbers; CR before LF stripped, and a BOM at the very start of the file).
 */
export async function* readLines(path: string, maxLineBytes: number, range?: ByteRange): AsyncGenerator<RawLine> {
  let parts: Buffer[] = [];
  let partsBytes = 0;
  let tooLong = false;
  let line = 0;
  const atFileStart = !range || range.start === 0;
  const stream = createReadStream(path, { highWaterMark: 1 << 20, ...(range ? { start: range.start, end: range.end - 1 } : {}) });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      line += 1;
      if (tooLong || partsBytes + piece.length > maxLineBytes) {
        yield { line, kind: 'too_long', bytes: partsBytes + piece.length };
      } else {
        yield decodeLine(line, parts.length ? Buffer.concat([...parts, piece]) : piece, atFileStart);
      }
      parts = [];
      partsBytes = 0;
      tooLong = false;
    }
    const rest = chunk.subarray(start);
    partsBytes += rest.length;
    if (partsBytes > maxLineBytes) {
      tooLong = true;
      parts = [];
    } else if (rest.length) parts.push(Buffer.from(rest));
  }
  if (partsBytes > 0) {
    line += 1;
    yield tooLong ? { line, kind: 'too_long', bytes: partsBytes } : decodeLine(line, Buffer.concat(parts), atFileStart);
  }
}

function decodeLine(line: number, raw: Buffer, atFileStart: boolean): RawLine {
  let bytes = raw;
  if (line === 1 && atFileStart && bytes.subarray(0, 3).equals(BOM)) bytes = bytes.subarray(3);
  if (bytes.length && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
  if (!isUtf8(bytes)) return { line, kind: 'invalid_utf8', bytes: raw.length, offset: firstInvalidUtf8(bytes) };
  return { line, kind: 'text', text: bytes.toString('utf8'), bytes: raw.length };
}

/** Byte offset of the first invalid UTF-8 sequence (only called on lines known to be invalid). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    const need = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (need < 0 || i + need >= b.length + (need ? 0 : 1)) return i;
    for (let k = 1; k <= need; k += 1) {
      const lo = k === 1 && c === 0xe0 ? 0xa0 : k === 1 && c === 0xf0 ? 0x90 : 0x80;
      const hi = k === 1 && c === 0xed ? 0x9f : k === 1 && c === 0xf4 ? 0x8f : 0xbf;
      if (b[i + k] < lo || b[i + k] > hi) return i;
    }
    i += need + 1;
  }
  return i;
}
