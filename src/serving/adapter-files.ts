/**
 * A fine-tuned model's adapter on disk: removed with the model, and packed as a tar for download
 * (PEFT's adapter_config.json + adapter_model.safetensors, and Mistral's lora.safetensors), so the
 * model can be served by vLLM or loaded with PEFT elsewhere.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';

const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors', 'lora.safetensors'];

/** Deletes the adapter folder (a missing folder is fine). */
export async function removeAdapterFiles(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => h.write(s.slice(0, len), off, 'utf8');
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0');
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(mtime, 12), 136, 12);
  h.fill(' ', 148, 156); // the checksum is computed over spaces in its own field (POSIX ustar)
  put('0', 156, 1);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${octal(sum, 7)}\u0000`, 148, 8);
  return h;
}

/** A ustar archive of the adapter's files under `<prefix>/`; throws when none is present. */
export async function packAdapterTar(dir: string, prefix: string): Promise<Buffer> {
  const present = new Set(await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  }));
  const names = ADAPTER_FILES.filter((n) => present.has(n));
  if (!names.length) throw new Error(`no adapter files in ${dir}`);
  const parts: Buffer[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const [data, st] = await Promise.all([readFile(file), stat(file)]);
    parts.push(header(`${prefix}/${name}`, data.length, Math.floor(st.mtimeMs / 1000)), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
