/**
 * A ustar archive of files on disk, produced as a stream: one 512-byte header per file, then the
 * file's bytes read in chunks, so a download of a multi-gigabyte export holds no file in memory.
 * Sizes of 8 GiB and more (a 7B GGUF) use the GNU base-256 size field every tar reads.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';

const BLOCK = 512;
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

function sizeField(h: Buffer, size: number): void {
  if (size <= MAX_OCTAL_SIZE) {
    h.write(`${size.toString(8).padStart(11, '0')}\u0000`, 124, 12, 'ascii');
    return;
  }
  h[124] = 0x80; // base-256: the remaining 11 bytes hold the size big-endian
  let n = BigInt(size);
  for (let i = 135; i > 124; i--) {
    h[i] = Number(n & 0xffn);
    n >>= 8n;
  }
}

/** One ustar header; names longer than 100 bytes go into the 155-byte prefix field. */
export function tarHeader(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const octal = (n: number, len: number) => `${n.toString(8).padStart(len - 1, '0')}\u0000`;
  const cut = Buffer.byteLength(name) > 100 ? name.lastIndexOf('/') : -1;
  if (Buffer.byteLength(name.slice(cut + 1)) > 100 || cut > 155) throw new Error(`name too long for tar: ${name}`);
  h.write(name.slice(cut + 1), 0, 100, 'utf8');
  if (cut >= 0) h.write(name.slice(0, cut), 345, 155, 'utf8');
  h.write(octal(0o644, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  sizeField(h, size);
  h.write(octal(mtime, 12), 136, 12, 'ascii');
  h.fill(' ', 148, 156); // the checksum is computed over spaces in its own field (POSIX ustar)
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\u000000', 257, 8, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return h;
}

async function* entries(dir: string, names: string[], prefix: string): AsyncGenerator<Buffer> {
  for (const name of names) {
    const file = path.join(dir, name);
    const st = await stat(file);
    yield tarHeader(`${prefix}/${name}`, st.size, Math.floor(st.mtimeMs / 1000));
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) yield chunk as Buffer;
    const pad = (BLOCK - (st.size % BLOCK)) % BLOCK;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(2 * BLOCK);
}

/** The byte length of the archive `tarStream` produces (for Content-Length). */
export async function tarSize(dir: string, names: string[]): Promise<number> {
  let total = 2 * BLOCK;
  for (const name of names) {
    const { size } = await stat(path.join(dir, name));
    total += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return total;
}

/** A stream of a tar holding `names` (files of `dir`) under `<prefix>/`. */
export function tarStream(dir: string, names: string[], prefix: string): Readable {
  return Readable.from(entries(dir, names, prefix), { objectMode: false });
}
