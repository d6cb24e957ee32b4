/**
 * Splits a JSONL file into parts no larger than a size, never cutting a line:
 * `train.jsonl` → `train.part-001.jsonl`, `train.part-002.jsonl`, … next to the input.
 */
import { createReadStream, closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';

export type SplitReport = { parts: { path: string; bytes: number; lines: number }[]; oversizedLines: number[] };

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, k: 1e3, m: 1e6, g: 1e9 };

/** Parses "500MB", "1.5GiB", "1000" (bytes) into bytes; null when malformed. MB is 10^6, MiB 2^20. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return null;
  const unit = UNITS[m[2].toLowerCase()];
  if (unit === undefined) return null;
  const bytes = Math.floor(Number(m[1]) * unit);
  return bytes > 0 ? bytes : null;
}

/** The name of part `n` of `input`. */
function partPath(input: string, n: number): string {
  const ext = path.extname(input);
  const base = ext === '.jsonl' ? input.slice(0, -ext.length) : input;
  return `${base}.part-${String(n).padStart(3, '0')}.jsonl`;
}

class PartWriter {
  readonly parts: SplitReport['parts'] = [];
  private fd: number | null = null;
  private current = { path: '', bytes: 0, lines: 0 };

  constructor(private readonly input: string) {}

  write(line: Buffer, maxBytes: number): void {
    if (this.fd === null || (this.current.bytes > 0 && this.current.bytes + line.length > maxBytes)) this.next();
    writeSync(this.fd as number, line);
    this.current.bytes += line.length;
    this.current.lines += 1;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private next(): void {
    this.close();
    this.current = { path: partPath(this.input, this.parts.length + 1), bytes: 0, lines: 0 };
    this.parts.push(this.current);
    this.fd = openSync(this.current.path, 'w');
  }
}

/** Yields each line of a file as raw bytes, newline included (added to a last unterminated line). */
export async function* readRawLines(input: string): AsyncGenerator<Buffer> {
  let carry: Buffer[] = [];
  for await (const chunk of createReadStream(input, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl + 1);
      yield carry.length ? Buffer.concat([...carry, piece]) : piece;
      carry = [];
      start = nl + 1;
    }
    if (start < chunk.length) carry.push(Buffer.from(chunk.subarray(start)));
  }
  if (carry.length) yield Buffer.concat([...carry, Buffer.from('\n')]);
}

/** Splits `input` into parts of at most `maxBytes` (a single longer line gets a part of its own). */
export async function splitFile(input: string, maxBytes: number): Promise<SplitReport> {
  const out = new PartWriter(input);
  const oversizedLines: number[] = [];
  let lineNo = 0;
  try {
    for await (const line of readRawLines(input)) {
      lineNo += 1;
      if (line.length > maxBytes) oversizedLines.push(lineNo);
      out.write(line, maxBytes);
    }
  } finally {
    out.close();
  }
  return { parts: out.parts, oversizedLines };
}
