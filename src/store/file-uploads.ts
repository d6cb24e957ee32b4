/**
 * Turning an uploaded byte stream into a stored file: stream it to blob storage while hashing it
 * and counting its lines (never holding it in memory), enforce the size limit, deduplicate, and
 * delete both row and bytes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from './blobs.ts';
import type { Db } from './db.ts';
import { deleteFileRow, insertFileOrExisting, type FileRecord, type FileStatus } from './files.ts';

/** Thrown when an upload is larger than the limit; nothing of it is kept. */
export class FileTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`file is larger than ${maxBytes} bytes`);
  }
}

/** Bytes already in blob storage, not yet a file row. */
export type StagedBytes = { id: string; blobKey: string; bytes: number; sha256: string; numLines: number };

/** Hashes and counts lines as bytes flow through; past maxBytes it drops them and marks the stream too large. */
class Measure extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  newlines = 0;
  lastByte = -1;
  tooLarge = false;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      // Keep reading (so the request drains and the client gets its 413) but write nothing more.
      this.tooLarge = true;
      return done();
    }
    this.hash.update(chunk);
    let i = chunk.indexOf(10);
    while (i !== -1) {
      this.newlines++;
      i = chunk.indexOf(10, i + 1);
    }
    if (chunk.length) this.lastByte = chunk[chunk.length - 1];
    done(null, chunk);
  }

  get numLines(): number {
    // A last line without a trailing newline still counts.
    return this.newlines + (this.bytes > 0 && this.lastByte !== 10 ? 1 : 0);
  }
}

function blobKeyFor(id: string): string {
  return `${id.slice(0, 2)}/${id}`;
}

/** Streams source into blob storage under a fresh file id; throws FileTooLargeError past maxBytes (and keeps nothing). */
export async function stageUpload(blobs: BlobStore, source: Readable, maxBytes: number): Promise<StagedBytes> {
  const id = randomUUID();
  const blobKey = blobKeyFor(id);
  const measure = new Measure(maxBytes);
  // pipeline() listens on both streams from this tick on, so neither can emit an unheard 'error'
  // while put() awaits (an unheard 'error' kills the process). Both settle before we go on, so a
  // failed upload has removed its temp file by the time the caller answers.
  const [put, piped] = await Promise.allSettled([blobs.put(blobKey, measure), pipeline(source, measure)]);
  if (piped.status === 'rejected') throw piped.reason;
  if (put.status === 'rejected') throw put.reason;
  const { bytes } = put.value;
  if (measure.tooLarge) {
    await blobs.delete(blobKey);
    throw new FileTooLargeError(maxBytes);
  }
  return { id, blobKey, bytes, sha256: measure.hash.digest('hex'), numLines: measure.numLines };
}

const maxNameLength = 255;

/** A display name that is safe to show and store: no directories, no control characters, bounded length. */
export function sanitizeFilename(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  // C0/C1 controls, DEL and Unicode bidi overrides could forge what a terminal or UI shows.
  const clean = base.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '').trim();
  const safe = clean === '' || clean === '.' || clean === '..' ? 'upload' : clean;
  if (safe.length <= maxNameLength) return safe;
  const dot = safe.lastIndexOf('.');
  const ext = dot > 0 && safe.length - dot <= 16 ? safe.slice(dot) : '';
  return safe.slice(0, maxNameLength - ext.length) + ext;
}

export type NewFile = {
  workspaceId: string;
  filename: string;
  purpose: string;
  sampleType: string;
  source: string;
  mimetype: string | null;
  visibility: string;
  expiresAt: number | null;
  status: FileStatus;
};

/**
 * Records staged bytes as a file. If the workspace already has a file with the same bytes and
 * name, the staged copy is deleted and the existing file returned (`created: false`).
 */
export async function commitUpload(db: Db, blobs: BlobStore, staged: StagedBytes, file: NewFile): Promise<{ file: FileRecord; created: boolean }> {
  const ms = Date.now();
  const record: FileRecord = {
    ...file,
    id: staged.id,
    bytes: staged.bytes,
    numLines: staged.numLines,
    sha256: staged.sha256,
    blobKey: staged.blobKey,
    validation: null,
    createdAt: Math.floor(ms / 1000),
    createdMs: ms,
  };
  const result = await insertFileOrExisting(db, record);
  // The loser of a race (or a plain re-upload) keeps no bytes: the existing file owns its own blob.
  if (!result.created) await blobs.delete(staged.blobKey);
  return result;
}

/** Deletes a workspace's file and its bytes; resolves to false when there is no such file. */
export async function deleteFile(db: Db, blobs: BlobStore, workspaceId: string, id: string): Promise<boolean> {
  const file = await deleteFileRow(db, workspaceId, id);
  if (!file) return false;
  await blobs.delete(file.blobKey);
  return true;
}
