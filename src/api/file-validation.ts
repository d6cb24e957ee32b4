/**
 * Background validation of uploaded fine-tune files: runs the dataset validator (src/data) on the
 * stored bytes and records the report with the file (status processed, or error when any line is
 * invalid). Paths in the report are replaced by the file name: server paths never leave.
 */
import { validateDatasetFile } from '../data/index.ts';
import { setFileValidation, type FileRecord, type Store } from '../store/index.ts';

/** An onFileUploaded hook for this store; `onDone` is told when a file's report is stored (tests await it). */
export function fileValidationHook(store: Store, onDone?: (fileId: string) => void): (file: FileRecord) => Promise<void> {
  return async (file) => {
    try {
      const local = store.blobs.localPath(file.blobKey);
      if (!local) throw new Error('the blob store has no local path for validation');
      const report = await validateDatasetFile(local);
      const shown = { ...report, path: file.filename, errors: report.errors.map((e) => ({ ...e, file: file.filename })) };
      await setFileValidation(store.db, file.id, report.error_count === 0 ? 'processed' : 'error', shown);
    } catch (err) {
      await setFileValidation(store.db, file.id, 'error', { error: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      onDone?.(file.id);
    }
  };
}
