/**
 * The one content-hash cache: sha256 of a file's bytes, streamed (tokenizer files are up to 15 MB),
 * computed once per (path, size, mtime) and process. Shard keys and report keys both use it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';

const hashes = new Map<string, Promise<string>>();

/** sha256 (hex) of a file's bytes; recomputed when the file's size or mtime changes. */
export function sha256File(file: string): Promise<string> {
  const st = statSync(file);
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  let h = hashes.get(key);
  if (!h) {
    h = new Promise<string>((resolve, reject) => {
      const hash = createHash('sha256');
      createReadStream(file).on('data', (d) => hash.update(d)).once('error', reject).once('end', () => resolve(hash.digest('hex')));
    });
    hashes.set(key, h);
    h.catch(() => hashes.delete(key));
  }
  return h;
}
