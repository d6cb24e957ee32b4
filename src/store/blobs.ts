/**
 * Blob storage: bytes by key, behind an interface an S3-compatible store can implement. The local
 * implementation writes under `<data-dir>/files/`, to a temporary name first and renames it into
 * place, so a reader never sees a half-written blob and a failed write leaves nothing behind.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface BlobStore {
  /** Writes the whole stream under key (replacing any blob there); resolves to the byte count. Nothing is kept if the stream fails. */
  put(key: string, source: Readable): Promise<{ bytes: number }>;
  /** Streams a blob; throws BlobNotFoundError when absent. */
  stream(key: string): Promise<Readable>;
  /** Size of a blob, or null when absent. */
  stat(key: string): Promise<{ bytes: number } | null>;
  /** Deletes a blob; absent is not an error. */
  delete(key: string): Promise<void>;
  /** A local path to the bytes when the store is on this machine's disk (the dataset validator and the worker read files), else null. */
  localPath(key: string): string | null;
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`blob not found: ${key}`);
  }
}

// Keys are ours (file ids), but check anyway: a key can never leave the blob folder.
function checkKey(key: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$/.test(key) || key.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    throw new Error(`invalid blob key: ${key}`);
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * Awaits `work` with an 'error' listener on `source`: a stream that fails before it is piped would
 * otherwise emit 'error' with no listener, which kills the process (a multipart upload cut off
 * inside its file part did exactly that while the blob folder was being created). Rethrows the
 * stream's error once `work` is done.
 */
async function awaitWhileListening<T>(source: Readable, work: Promise<T>): Promise<T> {
  let failure: Error | null = null;
  const note = (err: Error) => (failure = err);
  source.once('error', note);
  let result: T;
  try {
    result = await work;
  } finally {
    source.off('error', note);
  }
  if (failure) throw failure;
  return result;
}

/** Blobs as files under root (normally `<data-dir>/files`). */
export class LocalBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  localPath(key: string): string {
    checkKey(key);
    return path.join(this.root, key);
  }

  async put(key: string, source: Readable): Promise<{ bytes: number }> {
    const target = this.localPath(key);
    await awaitWhileListening(source, mkdir(path.dirname(target), { recursive: true }));
    const temp = path.join(path.dirname(target), `.tmp-${randomBytes(8).toString('hex')}`);
    let bytes = 0;
    source.on('data', (chunk: Buffer) => (bytes += chunk.length));
    try {
      await pipeline(source, createWriteStream(temp, { flags: 'wx' }));
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return { bytes };
  }

  async stream(key: string): Promise<Readable> {
    const file = this.localPath(key);
    // Open first so a missing blob is an error here, not an 'error' event mid-response.
    const s = createReadStream(file);
    await new Promise<void>((resolve, reject) => {
      s.once('open', () => resolve());
      s.once('error', (err) => reject(isNotFound(err) ? new BlobNotFoundError(key) : err));
    });
    return s;
  }

  async stat(key: string): Promise<{ bytes: number } | null> {
    try {
      return { bytes: (await stat(this.localPath(key))).size };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }
}
