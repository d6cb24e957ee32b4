/** The one place a file id becomes a path on this machine's disk (validation and the worker read files there). */
import type { Db } from './db.ts';
import type { BlobStore } from './blobs.ts';
import { getFile, type FileRecord } from './files.ts';

/** The workspace's file `fileId` and its local path; throws naming the file when it is missing or not on this disk. */
export async function localFile(store: { db: Db; blobs: BlobStore }, workspaceId: string, fileId: string): Promise<{ file: FileRecord; path: string }> {
  const file = await getFile(store.db, workspaceId, fileId);
  const local = file ? store.blobs.localPath(file.blobKey) : null;
  if (!file || !local) throw new Error(`file ${fileId} is missing or not on this machine's disk (share the data dir or blob store)`);
  return { file, path: local };
}
