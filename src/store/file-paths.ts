/** The one place a file id becomes a path on this machine's disk (validation and the worker read files there). */
import { existsSync } from 'node:fs';
import type { Db } from './db.ts';
import type { BlobStore } from './blobs.ts';
import { getFile, type FileRecord } from './files.ts';

/** A file a job names was deleted after the job was created: the user's doing, so the job fails naming it. */
export class DeletedFileError extends Error {
  constructor(readonly fileId: string) {
    super(`File '${fileId}' was deleted after the job was created; upload the data again and create a new job.`);
  }
}

/** The workspace's file `fileId` and its local path; throws DeletedFileError when its row is gone, an Error when it is not on this disk. */
export async function localFile(store: { db: Db; blobs: BlobStore }, workspaceId: string, fileId: string): Promise<{ file: FileRecord; path: string }> {
  const file = await getFile(store.db, workspaceId, fileId);
  if (!file) throw new DeletedFileError(fileId);
  const local = store.blobs.localPath(file.blobKey);
  if (!local) throw new Error(`file ${fileId} is missing or not on this machine's disk (share the data dir or blob store)`);
  // A worker on another host whose blob folder is not the API's: say what to share, not a bare ENOENT (docs/deploy.md).
  if (!existsSync(local)) throw new Error(`file ${fileId} is not in this host's blob storage: the API host and every worker must share one blob folder (ATELIER_BLOB_DIR, default <data-dir>/files; docs/deploy.md)`);
  return { file, path: local };
}
