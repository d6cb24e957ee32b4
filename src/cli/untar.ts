/**
 * Extracts a ustar stream (what `GET /v1/models/{id}/export` sends) into a folder as it arrives:
 * each regular file is written chunk by chunk, never held whole. The archive's top folder is
 * dropped (files land directly in the target); only plain names are written, so an entry cannot
 * escape the folder.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';

const BLOCK = 512;

function readSize(h: Buffer): number {
  if (h[124] & 0x80) {
    let n = 0n;
    for (let i = 125; i < 136; i++) n = (n << 8n) | BigInt(h[i] ?? 0);
    return Number(n);
  }
  return parseInt(h.toString('ascii', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
}

function entryName(h: Buffer): string {
  const str = (a: number, b: number) => h.toString('utf8', a, b).replace(/\0.*$/s, '');
  const prefix = str(345, 500);
  return prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
}

/** Writes the files of the tar `chunks` into `dir`; resolves to their names and sizes. */
export async function untar(chunks: AsyncIterable<Uint8Array>, dir: string): Promise<{ name: string; bytes: number }[]> {
  const files: { name: string; bytes: number }[] = [];
  let buf = Buffer.alloc(0);
  let left = 0; // bytes of the current entry still to come
  let pad = 0;
  let out: WriteStream | null = null;
  for await (const chunk of chunks) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk);
    while (buf.length) {
      if (left > 0) {
        const part = buf.subarray(0, Math.min(left, buf.length));
        if (out && !out.write(part)) await once(out, 'drain');
        left -= part.length;
        buf = buf.subarray(part.length);
        if (left === 0 && out) {
          out.end();
          await once(out, 'close');
          out = null;
        }
        continue;
      }
      if (pad > 0) {
        const n = Math.min(pad, buf.length);
        pad -= n;
        buf = buf.subarray(n);
        continue;
      }
      if (buf.length < BLOCK) break;
      const h = buf.subarray(0, BLOCK);
      buf = buf.subarray(BLOCK);
      if (h.every((b) => b === 0)) continue; // end-of-archive blocks
      const size = readSize(h);
      const name = path.basename(entryName(h));
      const regular = h[156] === 0x30 || h[156] === 0;
      if (regular && name && name !== '.' && name !== '..') {
        out = createWriteStream(path.join(dir, name));
        files.push({ name, bytes: size });
        if (size === 0) {
          out.end();
          await once(out, 'close');
          out = null;
        }
      }
      left = size;
      pad = (BLOCK - (size % BLOCK)) % BLOCK;
    }
  }
  if (left > 0 || out) throw new Error('the archive ended in the middle of a file (connection dropped?)');
  return files;
}
