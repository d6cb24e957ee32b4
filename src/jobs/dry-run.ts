/**
 * `POST /v1/fine_tuning/jobs?dry_run=true` (official spec: LegacyJobMetadataOut): the checks of a
 * create and the estimate validation would store, answered as `object: "job.metadata"`. Nothing
 * is stored, queued or started.
 */
import { UnknownBaseModelError } from '../models/index.ts';
import { JobError, type Caller, type JobSpec, type JobsService } from './service.ts';
import { assessJob } from './validate-job.ts';
import { describeMemory, type MemoryEstimate } from './job-memory.ts';

const estimateKeys = ['expected_duration_seconds', 'cost', 'cost_currency', 'train_tokens_per_step', 'train_tokens', 'data_tokens', 'epochs', 'training_steps'] as const;

/** The metadata object of a dry run; throws JobError (unknown model or file, invalid data). */
export async function dryRunJob(jobs: JobsService, caller: Caller, spec: JobSpec): Promise<Record<string, unknown>> {
  await jobs.checkRequest(caller, spec);
  let estimate: Record<string, unknown>;
  try {
    const a = await assessJob(jobs.store, jobs.settings, { ...spec, workspaceId: caller.workspaceId });
    if (!a.ok) throw new JobError('invalid_job', a.message, a.param);
    estimate = a.estimate;
  } catch (err) {
    if (err instanceof UnknownBaseModelError || err instanceof RangeError) throw new JobError('invalid_job', err.message, 'model');
    throw err;
  }
  return {
    object: 'job.metadata',
    ...Object.fromEntries(estimateKeys.map((k) => [k, estimate[k] ?? null])),
    estimated_start_time: null,
    deprecated: true,
    details: `Dry run: the data was validated and the job estimated; no job was created. ${describeMemory(estimate.memory as MemoryEstimate)}`,
  };
}
