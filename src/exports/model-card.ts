/**
 * The facts of a fine-tuned model's README card, from the store: its job's hyperparameters, the
 * training files (name, size), trained tokens and the last metrics event.
 */
import { getFile, getJob, listJobEvents, type Db, type FineTunedModelRecord } from '../store/index.ts';

export async function modelCardFacts(db: Db, m: FineTunedModelRecord): Promise<Record<string, unknown>> {
  const job = await getJob(db, m.workspaceId, m.jobId);
  if (!job) return { job_id: m.jobId, name: m.name, description: m.description };
  const files = await Promise.all(job.trainingFiles.map(async (f) => {
    const rec = await getFile(db, m.workspaceId, f.file_id);
    return { id: f.file_id, filename: rec?.filename ?? null, bytes: rec?.bytes ?? null, weight: f.weight };
  }));
  const [last] = await listJobEvents(db, job.id, { names: ['metrics'], limit: 1 });
  return {
    job_id: job.id, name: m.name, description: m.description, training_files: files,
    hyperparameters: job.hyperparameters, metrics: { trained_tokens: job.trainedTokens, ...(last?.data ?? {}) },
  };
}
