/**
 * The `jobs`, `job_events`, `job_checkpoints` and `throughput` tables: fine-tuning jobs, their
 * history, and the measured training speed per (base model, device kind). Every status change is
 * guarded by the status it leaves (and, once a worker holds the job, by `locked_by`), so two
 * processes can never both move a job, and checked against the state table (job-statuses.ts).
 * JSON columns are parsed with the zod schemas below when read; those schemas are their types.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db, SqlValue } from './db.ts';
import {
  canTransition, claimableStatuses, heldStatuses, IllegalTransitionError, jobStatusSchema, openStatuses, startableStatuses, unvalidatedStatuses, type JobStatus,
} from './job-statuses.ts';

const record = z.record(z.string(), z.unknown());
/** The JSON columns of `jobs`, as stored. */
const jobColumns = {
  trainingFiles: z.array(z.object({ file_id: z.string(), weight: z.number() })),
  validationFiles: z.array(z.string()),
  hyperparameters: record,
  integrations: z.array(record),
  repositories: z.array(record),
  classifierTargets: z.array(record).nullable(),
  userMetadata: z.record(z.string(), z.string()),
  estimate: record.nullable(),
  plan: record.nullable(),
  error: z.object({ code: z.string(), message: z.string(), param: z.string().nullable() }).nullable(),
  resultFiles: z.array(z.string()),
};
const eventColumns = { level: z.enum(['info', 'warn', 'error']), data: record.nullable() };
const metricValue = z.number().nullable().default(null);
const checkpointMetrics = z.object({ train_loss: metricValue, valid_loss: metricValue, valid_mean_token_accuracy: metricValue }).loose();
type Column<K extends keyof typeof jobColumns> = z.infer<(typeof jobColumns)[K]>;

export type JobRecord = {
  id: string;
  workspaceId: string;
  createdBy: string | null;
  dialect: 'mistral' | 'openai';
  jobType: 'completion' | 'classifier';
  model: string;
  status: JobStatus;
  autoStart: boolean;
  startRequested: boolean;
  trainingFiles: Column<'trainingFiles'>;
  validationFiles: Column<'validationFiles'>;
  hyperparameters: Column<'hyperparameters'>;
  suffix: string | null;
  integrations: Column<'integrations'>;
  repositories: Column<'repositories'>;
  classifierTargets: Column<'classifierTargets'>;
  userMetadata: Column<'userMetadata'>;
  invalidSampleSkipPercentage: number;
  seed: number | null;
  dedupeKey: string;
  estimate: Column<'estimate'>;
  plan: Column<'plan'>;
  fineTunedModel: string | null;
  trainedTokens: number | null;
  error: Column<'error'>;
  device: string | null;
  /** Devices (trainer ranks) the job needs; only a worker with at least as many claims it. From plan.devices_required. */
  devicesRequired: number;
  attempts: number;
  lockedBy: string | null;
  heartbeatMs: number | null;
  createdAt: number;
  createdMs: number;
  modifiedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Files written when the job ended (OpenAI's result_files: the metrics CSV). */
  resultFiles: string[];
};

/** What create stores; the rest starts empty. */
export type NewJob = Pick<
  JobRecord,
  | 'workspaceId' | 'createdBy' | 'dialect' | 'jobType' | 'model' | 'autoStart' | 'trainingFiles' | 'validationFiles'
  | 'hyperparameters' | 'suffix' | 'integrations' | 'repositories' | 'classifierTargets' | 'userMetadata'
  | 'invalidSampleSkipPercentage' | 'seed' | 'dedupeKey'
>;

type JobRow = Record<string, unknown>;

const json = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));
/** A JSON column read back: parsed with its schema (a row that does not match throws), or `fallback` when NULL. */
function parse<S extends z.ZodType>(schema: S, v: unknown, fallback: z.infer<S>): z.infer<S> {
  return typeof v === 'string' ? schema.parse(JSON.parse(v)) : fallback;
}
/** `$first, $first+1, ...`: one placeholder per value of a list. */
const marks = (values: readonly unknown[], first: number): string => values.map((_, i) => `$${first + i}`).join(', ');
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toJob(r: JobRow): JobRecord {
  return {
    id: String(r.id),
    workspaceId: String(r.workspace_id),
    createdBy: str(r.created_by),
    dialect: r.dialect === 'openai' ? 'openai' : 'mistral',
    jobType: r.job_type === 'classifier' ? 'classifier' : 'completion',
    model: String(r.model),
    status: jobStatusSchema.parse(r.status),
    autoStart: Number(r.auto_start) === 1,
    startRequested: Number(r.start_requested) === 1,
    trainingFiles: parse(jobColumns.trainingFiles, r.training_files, []),
    validationFiles: parse(jobColumns.validationFiles, r.validation_files, []),
    hyperparameters: parse(jobColumns.hyperparameters, r.hyperparameters, {}),
    suffix: str(r.suffix),
    integrations: parse(jobColumns.integrations, r.integrations, []),
    repositories: parse(jobColumns.repositories, r.repositories, []),
    classifierTargets: parse(jobColumns.classifierTargets, r.classifier_targets, null),
    userMetadata: parse(jobColumns.userMetadata, r.user_metadata, {}),
    invalidSampleSkipPercentage: Number(r.invalid_sample_skip_percentage),
    seed: num(r.seed),
    dedupeKey: String(r.dedupe_key),
    estimate: parse(jobColumns.estimate, r.estimate, null),
    plan: parse(jobColumns.plan, r.plan, null),
    fineTunedModel: str(r.fine_tuned_model),
    trainedTokens: num(r.trained_tokens),
    error: parse(jobColumns.error, r.error, null),
    device: str(r.device),
    devicesRequired: Number(r.devices_required ?? 1),
    attempts: Number(r.attempts),
    lockedBy: str(r.locked_by),
    heartbeatMs: num(r.heartbeat_ms),
    createdAt: Number(r.created_at),
    createdMs: Number(r.created_ms),
    modifiedAt: Number(r.modified_at),
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
    resultFiles: parse(jobColumns.resultFiles, r.result_files, []),
  };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// Creation order is list order: jobs created in the same millisecond by this process still get
// distinct, increasing created_ms (across processes the id breaks ties).
let lastCreatedMs = 0;

/** Inserts a QUEUED job and its first status event; returns it. */
export async function insertJob(db: Db, j: NewJob): Promise<JobRecord> {
  const id = randomUUID();
  const ms = (lastCreatedMs = Math.max(Date.now(), lastCreatedMs + 1));
  const wandb = j.integrations.find((i) => i.type === 'wandb');
  await db.transaction(async (tx) => {
    await tx.run(
      `INSERT INTO jobs (id, workspace_id, created_by, dialect, job_type, model, status, auto_start, start_requested,
         training_files, validation_files, hyperparameters, suffix, integrations, wandb_project, wandb_name, repositories,
         classifier_targets, user_metadata, invalid_sample_skip_percentage, seed, dedupe_key, created_at, created_ms, modified_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'QUEUED', $7, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $21)`,
      [
        id, j.workspaceId, j.createdBy, j.dialect, j.jobType, j.model, j.autoStart ? 1 : 0, json(j.trainingFiles),
        json(j.validationFiles), json(j.hyperparameters), j.suffix, json(j.integrations), str(wandb?.project),
        str(wandb?.name), json(j.repositories), json(j.classifierTargets), json(j.userMetadata),
        j.invalidSampleSkipPercentage, j.seed, j.dedupeKey, Math.floor(ms / 1000), ms,
      ],
    );
    await appendEvent(tx, id, statusEvent('QUEUED'));
  });
  const job = await getJobById(db, id);
  if (!job) throw new Error(`job ${id} vanished after insert`);
  return job;
}

/** A job of a workspace, or null. */
export async function getJob(db: Db, workspaceId: string, id: string): Promise<JobRecord | null> {
  const r = await db.one('SELECT * FROM jobs WHERE id = $1 AND workspace_id = $2', [id, workspaceId]);
  return r ? toJob(r) : null;
}

/** A job by id whatever its workspace (workers), or null. */
export async function getJobById(db: Db, id: string): Promise<JobRecord | null> {
  const r = await db.one('SELECT * FROM jobs WHERE id = $1', [id]);
  return r ? toJob(r) : null;
}

/** The newest job of the workspace with this dedupe key in one of `statuses`, or null. */
export async function findJobByDedupeKey(db: Db, workspaceId: string, dedupeKey: string, statuses: readonly JobStatus[]): Promise<JobRecord | null> {
  const marks = statuses.map((_, i) => `$${i + 3}`).join(', ');
  const r = await db.one(
    `SELECT * FROM jobs WHERE workspace_id = $1 AND dedupe_key = $2 AND status IN (${marks}) ORDER BY created_ms DESC LIMIT 1`,
    [workspaceId, dedupeKey, ...statuses],
  );
  return r ? toJob(r) : null;
}

export type JobFilter = {
  model?: string;
  createdAfter?: number;
  createdBefore?: number;
  createdBy?: string;
  status?: string;
  wandbProject?: string;
  wandbName?: string;
  suffix?: string;
  metadata?: Record<string, string>;
};

/** Jobs of a workspace, newest first, filtered; `offset`/`limit` page them, `after` starts after a job id. */
export async function listJobs(
  db: Db,
  workspaceId: string,
  filter: JobFilter,
  page: { offset?: number; limit: number; after?: string },
): Promise<{ jobs: JobRecord[]; total: number }> {
  const where = ['workspace_id = $1'];
  const params: SqlValue[] = [workspaceId];
  const add = (clause: string, value: SqlValue) => {
    params.push(value);
    where.push(clause.replace('?', `$${params.length}`));
  };
  if (filter.model !== undefined) add('model = ?', filter.model);
  if (filter.createdAfter !== undefined) add('created_at >= ?', filter.createdAfter);
  if (filter.createdBefore !== undefined) add('created_at <= ?', filter.createdBefore);
  if (filter.createdBy !== undefined) add('created_by = ?', filter.createdBy);
  if (filter.status !== undefined) add('status = ?', filter.status);
  if (filter.wandbProject !== undefined) add('wandb_project = ?', filter.wandbProject);
  if (filter.wandbName !== undefined) add('wandb_name = ?', filter.wandbName);
  if (filter.suffix !== undefined) add('suffix = ?', filter.suffix);
  const rows = (await db.query(`SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_ms DESC, id DESC`, params)).map(toJob);
  // OpenAI metadata filters compare JSON values; workspaces hold few jobs, so this runs in memory.
  const matching = rows.filter((j) => Object.entries(filter.metadata ?? {}).every(([k, v]) => j.userMetadata[k] === v));
  const start = page.after !== undefined ? matching.findIndex((j) => j.id === page.after) + 1 : (page.offset ?? 0);
  return { jobs: matching.slice(start, start + page.limit), total: matching.length };
}

/** Fields a transition may set along with the status. */
export type JobPatch = Partial<{
  estimate: Record<string, unknown>;
  plan: Record<string, unknown>;
  fineTunedModel: string;
  trainedTokens: number;
  error: { code: string; message: string; param: string | null };
  startRequested: boolean;
  finished: boolean;
  releaseLock: boolean;
}>;

export type EventInput = { name: string; level: z.infer<typeof eventColumns.level>; message: string; data: z.infer<typeof eventColumns.data> };

/** The `status-updated` event of a status change (Mistral's name and data). */
function statusEvent(status: JobStatus, extra: Record<string, unknown> = {}, level: EventInput['level'] = 'info'): EventInput {
  const message = typeof extra.error === 'object' && extra.error !== null && 'message' in extra.error ? `${status}: ${String(extra.error.message)}` : `Job status: ${status}`;
  return { name: 'status-updated', level, message, data: { status, ...extra } };
}

/**
 * Moves a job from one of `from` to `to` (and applies `patch`) in one transaction with its status
 * event. With `lockedBy`, only the worker holding the job may move it. Returns the updated job, or
 * null when the job was not in a `from` status (or not held by that worker). Throws
 * IllegalTransitionError when the state table forbids a move from one of `from` to `to`.
 */
export async function transitionJob(
  db: Db,
  id: string,
  from: readonly JobStatus[],
  to: JobStatus,
  opts: { patch?: JobPatch; lockedBy?: string; startRequested?: boolean; eventData?: Record<string, unknown>; level?: EventInput['level'] } = {},
): Promise<JobRecord | null> {
  const illegal = from.find((s) => !canTransition(s, to));
  if (illegal !== undefined) throw new IllegalTransitionError(illegal, to);
  const p = opts.patch ?? {};
  const now = nowSeconds();
  const sets = ['status = $2', 'modified_at = $3'];
  const params: SqlValue[] = [id, to, now];
  const set = (col: string, value: SqlValue) => {
    params.push(value);
    sets.push(`${col} = $${params.length}`);
  };
  if (p.estimate) set('estimate', json(p.estimate));
  if (p.plan) {
    set('plan', json(p.plan));
    set('devices_required', devicesRequired(p.plan));
  }
  if (p.fineTunedModel) set('fine_tuned_model', p.fineTunedModel);
  if (p.trainedTokens !== undefined) set('trained_tokens', p.trainedTokens);
  if (p.error) set('error', json(p.error));
  if (p.startRequested !== undefined) set('start_requested', p.startRequested ? 1 : 0);
  if (p.finished) set('finished_at', now);
  if (p.releaseLock) sets.push('locked_by = NULL', 'heartbeat_ms = NULL');
  const marks = from.map((s) => {
    params.push(s);
    return `$${params.length}`;
  });
  let guard = `status IN (${marks.join(', ')})`;
  if (opts.lockedBy !== undefined) {
    params.push(opts.lockedBy);
    guard += ` AND locked_by = $${params.length}`;
  }
  if (opts.startRequested !== undefined) guard += ` AND start_requested = ${opts.startRequested ? 1 : 0}`;
  return db.transaction(async (tx) => {
    const r = await tx.one(`UPDATE jobs SET ${sets.join(', ')} WHERE id = $1 AND ${guard} RETURNING *`, params);
    if (!r) return null;
    await appendEvent(tx, id, statusEvent(to, { ...opts.eventData, ...(p.error ? { error: p.error } : {}) }, opts.level ?? (p.error ? 'error' : 'info')));
    return toJob(r);
  });
}

/** Sets start_requested on a VALIDATED (or still validating) job; null when the job is in another status. */
export async function requestStart(db: Db, workspaceId: string, id: string): Promise<JobRecord | null> {
  const r = await db.one(
    `UPDATE jobs SET start_requested = 1, modified_at = $3 WHERE id = $1 AND workspace_id = $2
       AND status IN (${marks(startableStatuses, 4)}) RETURNING *`,
    [id, workspaceId, nowSeconds(), ...startableStatuses],
  );
  return r ? toJob(r) : null;
}

/** Moves a VALIDATED job whose start was requested to QUEUED (where workers claim it); null when it is not both. */
export async function queueStartedJob(db: Db, id: string): Promise<JobRecord | null> {
  return transitionJob(db, id, ['VALIDATED'], 'QUEUED', { startRequested: true });
}

/** Appends an event; its sequence number comes from the job row, which the update also locks. */
export async function appendEvent(db: Db, jobId: string, e: EventInput): Promise<void> {
  await db.transaction(async (tx) => {
    const r = await tx.one<{ event_seq: number }>('UPDATE jobs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq', [jobId]);
    if (!r) throw new Error(`cannot add an event to missing job ${jobId}`);
    await tx.run('INSERT INTO job_events (id, job_id, seq, name, level, message, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
      `ftevent-${randomUUID()}`, jobId, Number(r.event_seq), e.name, e.level, e.message, json(e.data), nowSeconds(),
    ]);
  });
}

export type JobEvent = EventInput & { id: string; seq: number; createdAt: number };

/** A job's events, newest first; `names` keeps only those names, `after` starts after an event id. */
export async function listJobEvents(db: Db, jobId: string, opts: { names?: string[]; after?: string; limit?: number } = {}): Promise<JobEvent[]> {
  const rows = await db.query('SELECT * FROM job_events WHERE job_id = $1 ORDER BY seq DESC', [jobId]);
  const events = rows
    .map((r) => ({
      id: String(r.id), seq: Number(r.seq), name: String(r.name), level: eventColumns.level.parse(r.level),
      message: String(r.message), data: parse(eventColumns.data, r.data, null), createdAt: Number(r.created_at),
    }))
    .filter((e) => !opts.names || opts.names.includes(e.name));
  const start = opts.after ? events.findIndex((e) => e.id === opts.after) + 1 : 0;
  return events.slice(start, opts.limit === undefined ? undefined : start + opts.limit);
}

export type JobCheckpoint = {
  id: string;
  jobId: string;
  stepNumber: number;
  metrics: { train_loss: number | null; valid_loss: number | null; valid_mean_token_accuracy: number | null };
  path: string;
  createdAt: number;
};

/** Records a checkpoint (idempotent per step: a resumed run may report a step again). */
export async function addCheckpoint(db: Db, c: Omit<JobCheckpoint, 'id' | 'createdAt'>): Promise<void> {
  await db.run(
    `INSERT INTO job_checkpoints (id, job_id, step_number, metrics, path, created_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (job_id, step_number) DO UPDATE SET metrics = excluded.metrics, path = excluded.path`,
    [`ftckpt-${randomUUID()}`, c.jobId, c.stepNumber, json(c.metrics), c.path, nowSeconds()],
  );
}

/** A job's checkpoints, newest (highest step) first. */
export async function listJobCheckpoints(db: Db, jobId: string): Promise<JobCheckpoint[]> {
  const rows = await db.query('SELECT * FROM job_checkpoints WHERE job_id = $1 ORDER BY step_number DESC', [jobId]);
  return rows.map((r) => ({
    id: String(r.id), jobId: String(r.job_id), stepNumber: Number(r.step_number),
    metrics: parse(checkpointMetrics, r.metrics, { train_loss: null, valid_loss: null, valid_mean_token_accuracy: null }),
    path: String(r.path), createdAt: Number(r.created_at),
  }));
}

/** The devices a plan asks for: its `devices_required` when a positive integer, else 1. */
export function devicesRequired(plan: Record<string, unknown>): number {
  const n = plan.devices_required;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

/**
 * Claims the oldest runnable job for a worker, in one statement: a validated job (it has a plan)
 * whose start was requested, QUEUED (or VALIDATED in the instant before it moves to QUEUED, and in
 * databases written before that step existed), or a RUNNING / CANCELLATION_REQUESTED job whose worker stopped heartbeating before
 * `staleBeforeMs` (it resumes from its last checkpoint). PostgreSQL skips rows other workers are
 * claiming (FOR UPDATE SKIP LOCKED); SQLite's BEGIN IMMEDIATE transaction excludes them. Returns
 * the claimed job (attempts > 1 means resumed), or null. `jobTypes` lists what this worker can train;
 * `devices` is how many devices (trainer ranks) it runs a job on: a job needing more is left to a
 * worker that has them.
 */
export async function claimJob(
  db: Db,
  workerId: string,
  nowMs: number,
  staleBeforeMs: number,
  jobTypes: readonly string[] = ['completion', 'classifier'],
  devices = 1,
): Promise<JobRecord | null> {
  const types = marks(jobTypes, 6);
  const held = marks(heldStatuses, 6 + jobTypes.length);
  const claimable = marks(claimableStatuses, 6 + jobTypes.length + heldStatuses.length);
  return db.transaction(async (tx) => {
    const r = await tx.one(
      `WITH next AS (
         SELECT id FROM jobs
         WHERE job_type IN (${types}) AND devices_required <= $5 AND (
               (status IN (${claimable}) AND start_requested = 1 AND plan IS NOT NULL)
            OR (status IN (${held}) AND (heartbeat_ms IS NULL OR heartbeat_ms < $3)))
         ORDER BY created_ms, id
         LIMIT 1 ${tx.skipLocked}
       )
       UPDATE jobs SET locked_by = $1, locked_at = $4, heartbeat_ms = $2, attempts = attempts + 1, modified_at = $4,
         started_at = COALESCE(started_at, $4)
       WHERE id IN (SELECT id FROM next)
       RETURNING *`,
      [workerId, nowMs, staleBeforeMs, Math.floor(nowMs / 1000), devices, ...jobTypes, ...heldStatuses, ...claimableStatuses],
    );
    if (!r) return null;
    const job = toJob(r);
    if (job.status !== 'QUEUED' && job.status !== 'VALIDATED') return job;
    return transitionJob(tx, job.id, [job.status], 'RUNNING', { lockedBy: workerId });
  });
}

/** Touches the worker's heartbeat; false when the job is no longer held by this worker. */
export async function heartbeatJob(db: Db, id: string, workerId: string): Promise<{ held: boolean; status: JobStatus | null }> {
  const r = await db.one<{ status: string }>('UPDATE jobs SET heartbeat_ms = $3 WHERE id = $1 AND locked_by = $2 RETURNING status', [id, workerId, Date.now()]);
  return { held: r !== undefined, status: r ? jobStatusSchema.parse(r.status) : null };
}

/** Sets the device and trained tokens reported by the trainer, if this worker holds the job. */
export async function updateJobProgress(db: Db, id: string, workerId: string, p: { device?: string; trainedTokens?: number }): Promise<void> {
  await db.run(
    'UPDATE jobs SET device = COALESCE($3, device), trained_tokens = COALESCE($4, trained_tokens) WHERE id = $1 AND locked_by = $2',
    [id, workerId, p.device ?? null, p.trainedTokens ?? null],
  );
}

/** Jobs waiting for or holding a device, oldest first (the queue estimates start times from it). */
export async function listQueuedJobs(db: Db): Promise<JobRecord[]> {
  const rows = await db.query(`SELECT * FROM jobs WHERE status IN (${marks(openStatuses, 1)}) ORDER BY created_ms, id`, [...openStatuses]);
  return rows.map(toJob);
}

/** Jobs whose validation was interrupted (the server stopped mid-way), oldest first. */
export async function listUnvalidatedJobs(db: Db): Promise<JobRecord[]> {
  // A started job waits at QUEUED too, with its plan: that one is validated already.
  const rows = await db.query(`SELECT * FROM jobs WHERE status IN (${marks(unvalidatedStatuses, 1)}) AND plan IS NULL ORDER BY created_ms, id`, [...unvalidatedStatuses]);
  return rows.map(toJob);
}

/** Measured tokens/s of a base model on a device kind, or null before any job finished there. */
export async function getThroughput(db: Db, baseModel: string, device: string): Promise<number | null> {
  const r = await db.one<{ tokens_per_second: number }>('SELECT tokens_per_second FROM throughput WHERE base_model = $1 AND device = $2', [baseModel, device]);
  return r ? Number(r.tokens_per_second) : null;
}

/** The device kind on which a base model last finished a job, or null. */
export async function latestThroughputDevice(db: Db, baseModel: string): Promise<string | null> {
  const r = await db.one<{ device: string }>('SELECT device FROM throughput WHERE base_model = $1 ORDER BY updated_at DESC LIMIT 1', [baseModel]);
  return r ? String(r.device) : null;
}

/** Folds one finished job's tokens/s into the running mean for (base model, device kind). */
export async function recordThroughput(db: Db, baseModel: string, device: string, tokensPerSecond: number): Promise<void> {
  await db.run(
    `INSERT INTO throughput (base_model, device, tokens_per_second, jobs, updated_at) VALUES ($1, $2, $3, 1, $4)
     ON CONFLICT (base_model, device) DO UPDATE SET
       tokens_per_second = (throughput.tokens_per_second * throughput.jobs + excluded.tokens_per_second) / (throughput.jobs + 1),
       jobs = throughput.jobs + 1, updated_at = excluded.updated_at`,
    [baseModel, device, tokensPerSecond, nowSeconds()],
  );
}

/** Gives a held job back (worker shutdown): it stays RUNNING and the next claim resumes it from its last checkpoint. */
export async function releaseJob(db: Db, id: string, workerId: string): Promise<boolean> {
  const { changes } = await db.run('UPDATE jobs SET locked_by = NULL, heartbeat_ms = NULL WHERE id = $1 AND locked_by = $2', [id, workerId]);
  return changes > 0;
}
