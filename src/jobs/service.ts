/**
 * The jobs operations the API calls: create (with the 409 duplicate rule), list, get, start and
 * cancel, and the validation each new job gets at once, on CPU, in this process, whatever is
 * training at the time (only RUNNING needs a device; workers take it from there).
 */
import { createHash } from 'node:crypto';
import type { Settings } from '../settings/index.ts';
import {
  findJobByDedupeKey, getFile, getJob, getJobById, insertJob, listJobCheckpoints, listJobEvents, listJobs,
  listUnvalidatedJobs, queueStartedJob, requestStart, transitionJob,
  type JobCheckpoint, type JobEvent, type JobFilter, type JobRecord, type NewJob, type Store,
} from '../store/index.ts';
import { listBaseModelIds } from '../models/index.ts';
import { hyperparameterProblem, type Hyperparameters } from './hyperparameters.ts';
import { queueStartTimes } from './queue.ts';
import { activeStatuses, isTerminal, jobStatusSchema } from '../store/index.ts';
import { validateNewJob } from './validate-job.ts';

export type JobErrorKind = 'job_not_found' | 'duplicate_job' | 'job_wrong_state' | 'unknown_model' | 'job_file_not_found' | 'invalid_job';

/** A failure the API maps to its error registry (kind → code). */
export class JobError extends Error {
  /** `subject`: the id the error is about when `param` names the parameter (job_id) rather than holding the id. */
  constructor(readonly kind: JobErrorKind, message: string, readonly param: string | null = null, readonly subject: string | null = null) {
    super(message);
  }
}

/** What a caller creates: the dialect-neutral job (see requests.ts for both dialects). */
export type JobSpec = Omit<NewJob, 'workspaceId' | 'createdBy' | 'dedupeKey'>;

export type Caller = { workspaceId: string; keyHash: string | null };

export type JobDetails = { job: JobRecord; startTime: number | null; events: JobEvent[]; checkpoints: JobCheckpoint[] };

/** sha256 over what makes two jobs the same: model, type, files with weights, hyperparameters. */
export function dedupeKey(spec: JobSpec): string {
  const files = [...spec.trainingFiles].sort((a, b) => a.file_id.localeCompare(b.file_id));
  const canonical = JSON.stringify([spec.model, spec.jobType, files, [...spec.validationFiles].sort(), sortKeys(spec.hyperparameters)]);
  return createHash('sha256').update(canonical).digest('hex');
}

function sortKeys(o: Record<string, unknown>): [string, unknown][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}

export class JobsService {
  readonly #pending = new Set<Promise<void>>();

  constructor(readonly store: Store, readonly settings: Settings, readonly log: (msg: string) => void = () => undefined) {}

  /** Creates a QUEUED job and starts validating it; throws JobError (duplicate, unknown file, ...). */
  async create(caller: Caller, spec: JobSpec): Promise<JobRecord> {
    await this.checkRequest(caller, spec);
    const key = dedupeKey(spec);
    const job = await this.store.db.transaction(async (tx) => {
      const twin = await findJobByDedupeKey(tx, caller.workspaceId, key, activeStatuses);
      if (twin) throw new JobError('duplicate_job', `Job ${twin.id} with the same model, files and hyperparameters is already ${twin.status}; cancel it or change the request.`, twin.id);
      return insertJob(tx, { ...spec, workspaceId: caller.workspaceId, createdBy: caller.keyHash, dedupeKey: key });
    });
    this.validateInBackground(job.id);
    return job;
  }

  /** The hyperparameters are within bounds and the base model and every file exist (create and dry runs); throws JobError. */
  async checkRequest(caller: Caller, spec: JobSpec): Promise<void> {
    this.#checkBounds(spec);
    const models = await listBaseModelIds(this.settings);
    if (!models.includes(spec.model)) throw new JobError('unknown_model', `Unknown base model '${spec.model}'; available: ${models.join(', ')}.`, 'model');
    for (const id of [...spec.trainingFiles.map((f) => f.file_id), ...spec.validationFiles]) {
      if (!(await getFile(this.store.db, caller.workspaceId, id))) throw new JobError('job_file_not_found', `No file with id '${id}' in this workspace; upload it with POST /v1/files first.`, id);
    }
  }

  /** Throws JobError (400, the field named) when a hyperparameter or the seed is out of the settings' bounds. */
  #checkBounds(spec: JobSpec): void {
    // requests.ts built spec.hyperparameters with normalizeHyperparameters (the store keeps a plain record).
    const bound = hyperparameterProblem(spec.hyperparameters as Hyperparameters, spec.seed, spec.dialect, {
      maxLearningRate: this.settings.jobMaxLearningRate, maxEpochs: this.settings.jobMaxEpochs,
      maxTrainingSteps: this.settings.jobMaxTrainingSteps, maxBatchSize: this.settings.jobMaxBatchSize,
    });
    if (bound) throw new JobError('invalid_job', bound.message, bound.param);
  }

  /** Validates jobs a stopped server left unvalidated (called at start-up). */
  async resumeValidations(): Promise<void> {
    for (const job of await listUnvalidatedJobs(this.store.db)) this.validateInBackground(job.id);
  }

  validateInBackground(id: string): void {
    const p = validateNewJob(this.store, this.settings, id).catch((err: unknown) => this.log(`validating job ${id} failed: ${String(err)}`));
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  /** Resolves once every validation started so far has finished (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }

  async list(caller: Caller, filter: JobFilter, page: { offset?: number; limit: number; after?: string }): Promise<{ jobs: JobRecord[]; total: number; startTimes: Map<string, number> }> {
    const result = await listJobs(this.store.db, caller.workspaceId, filter, page);
    return { ...result, startTimes: await queueStartTimes(this.store.db) };
  }

  async get(caller: Caller, id: string): Promise<JobRecord> {
    const job = await getJob(this.store.db, caller.workspaceId, id);
    if (!job) throw new JobError('job_not_found', `No fine-tuning job with id '${id}' in this workspace.`, 'job_id', id);
    return job;
  }

  async details(caller: Caller, id: string): Promise<JobDetails> {
    const job = await this.get(caller, id);
    const [events, checkpoints, startTimes] = await Promise.all([
      listJobEvents(this.store.db, id), listJobCheckpoints(this.store.db, id), queueStartTimes(this.store.db),
    ]);
    return { job, events, checkpoints, startTime: startTimes.get(id) ?? null };
  }

  /**
   * Lets a job with auto_start false run: a validated one moves to QUEUED at once (one still
   * validating does when it is VALIDATED). 409 when it already runs, ended, or was started; 400
   * when one of its files was deleted since it was created (it could never train).
   */
  async start(caller: Caller, id: string): Promise<JobDetails> {
    const job = await this.get(caller, id);
    if (!job.startRequested) await this.#requireFiles(caller, job);
    if (job.startRequested || !(await requestStart(this.store.db, caller.workspaceId, id))) {
      const why = job.startRequested && !isTerminal(jobStatusSchema.parse(job.status)) ? 'was already started' : `is ${job.status}`;
      throw new JobError('job_wrong_state', `Job ${id} ${why}; only a job waiting at VALIDATED (auto_start false) can be started.`, 'job_id');
    }
    await queueStartedJob(this.store.db, id);
    return this.details(caller, id);
  }

  async #requireFiles(caller: Caller, job: JobRecord): Promise<void> {
    for (const fileId of [...job.trainingFiles.map((f) => f.file_id), ...job.validationFiles]) {
      if (await getFile(this.store.db, caller.workspaceId, fileId)) continue;
      throw new JobError('invalid_job', `File '${fileId}' of job ${job.id} was deleted after the job was created, so the job cannot train; upload the data again and create a new job.`, 'job_id');
    }
  }

  /**
   * Cancels a job: one that no worker holds goes CANCELLATION_REQUESTED → CANCELLED at once; a
   * RUNNING one goes CANCELLATION_REQUESTED and its worker stops the trainer (SIGTERM), then
   * records CANCELLED. 409 when the job already ended.
   */
  async cancel(caller: Caller, id: string): Promise<JobDetails> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const job = await this.get(caller, id);
      const status = jobStatusSchema.parse(job.status);
      if (isTerminal(status)) throw new JobError('job_wrong_state', `Job ${id} is ${status}; only a job that has not ended can be cancelled.`, 'job_id');
      if (status === 'CANCELLATION_REQUESTED') return this.details(caller, id);
      if (await this.requestCancel(job)) return this.details(caller, id);
    }
    throw new JobError('job_wrong_state', `Job ${id} kept changing status; retry the cancel.`, 'job_id');
  }

  async #finishCancel(id: string): Promise<void> {
    await transitionJob(this.store.db, id, ['CANCELLATION_REQUESTED'], 'CANCELLED', { patch: { finished: true, releaseLock: true } });
  }

  private async requestCancel(job: JobRecord): Promise<boolean> {
    const moved = await transitionJob(this.store.db, job.id, [job.status], 'CANCELLATION_REQUESTED');
    if (!moved) return false; // the status changed under us (claimed, validated): look again
    if (job.status !== 'RUNNING') await this.#finishCancel(job.id);
    return true;
  }

  /** The job as stored now (workers and tests). */
  async reload(id: string): Promise<JobRecord | null> {
    return getJobById(this.store.db, id);
  }
}
