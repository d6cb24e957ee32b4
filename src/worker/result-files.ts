/**
 * OpenAI's result_files: when a job succeeds, its metrics history is written as step_metrics.csv
 * (step, train_loss, train_accuracy, valid_loss, valid_mean_token_accuracy), stored as a file of
 * the job's workspace with purpose fine-tune-results (downloadable through the Files API) and
 * listed on the job.
 */
import { Readable } from 'node:stream';
import { toResultsCsv } from '../jobs/index.ts';
import { commitUpload, listJobMetrics, setJobResultFiles, stageUpload, type JobRecord, type Store } from '../store/index.ts';

export const resultsFilename = 'step_metrics.csv';

/** Writes and registers the job's results CSV; resolves to the new file's id. */
export async function writeResultFiles(store: Store, job: JobRecord, maxPoints: number): Promise<string> {
  const { points } = await listJobMetrics(store.db, job.id, maxPoints);
  const csv = Buffer.from(toResultsCsv(points));
  const staged = await stageUpload(store.blobs, Readable.from([csv]), csv.length);
  const { file } = await commitUpload(store.db, store.blobs, staged, {
    workspaceId: job.workspaceId, filename: resultsFilename, purpose: 'fine-tune-results', sampleType: 'instruct', source: 'mistral',
    mimetype: 'text/csv', visibility: 'workspace', expiresAt: null, status: 'processed',
  });
  await setJobResultFiles(store.db, job.id, [file.id]);
  return file.id;
}
