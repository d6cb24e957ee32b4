/**
 * A new job's validation, run in the API process: QUEUED → STARTED → VALIDATING → VALIDATED (with
 * the estimate) or FAILED_VALIDATION (file, line and what to change). Each step is guarded by the
 * status it leaves, so a cancel in between simply wins.
 */
import { loadTokenCounter, type ClassifierTarget, type TokenCounter } from '../data/index.ts';
import type { Settings } from '../settings/index.ts';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FileReport } from '../data/index.ts';
import {
  getDatasetReport, getFile, getJobById, getThroughput, latestThroughputDevice, putDatasetReport, transitionJob, type JobRecord, type Store,
} from '../store/index.ts';
import { resolveBaseModel, UnknownBaseModelError } from '../worker/index.ts';
import { deviceKind, estimateJob, priorTokensPerSecond, type JobEstimate } from './estimates.ts';
import { planTraining, type Hyperparameters, type TrainingPlan } from './hyperparameters.ts';
import { validateJobFiles, type JobFile, type ReportCache } from './validation.ts';

const counters = new Map<string, Promise<TokenCounter>>();

function tokenCounter(tokenizerPath: string): Promise<TokenCounter> {
  let c = counters.get(tokenizerPath);
  if (!c) {
    c = loadTokenCounter(tokenizerPath);
    counters.set(tokenizerPath, c);
    c.catch(() => counters.delete(tokenizerPath));
  }
  return c;
}

const tokenizerHashes = new Map<string, Promise<string>>();

/** sha256 of a tokenizer file, computed once per path and process (the tekken file is 15 MB). */
function tokenizerSha256(file: string): Promise<string> {
  let h = tokenizerHashes.get(file);
  if (!h) {
    h = new Promise<string>((resolve, reject) => {
      const hash = createHash('sha256');
      createReadStream(file).on('data', (d) => hash.update(d)).once('error', reject).once('end', () => resolve(hash.digest('hex')));
    });
    tokenizerHashes.set(file, h);
    h.catch(() => tokenizerHashes.delete(file));
  }
  return h;
}

/** Reports kept in the database, so jobs over the same bytes and tokenizer never validate again. */
function reportCache(store: Store): ReportCache {
  return {
    get: async (key) => (await getDatasetReport(store.db, key)) as FileReport | null,
    put: (key, report) => putDatasetReport(store.db, key, report),
  };
}

/** What an assessment needs of a job: a stored one, or a dry run's request that is never stored. */
export type AssessedJob = Pick<
  JobRecord, 'workspaceId' | 'model' | 'trainingFiles' | 'validationFiles' | 'jobType' | 'invalidSampleSkipPercentage' | 'classifierTargets' | 'hyperparameters'
>;

export type Assessment =
  | { ok: true; estimate: JobEstimate & { device: string }; plan: TrainingPlan & { files: unknown } }
  | { ok: false; message: string; param: string | null };

/** The job's files as local paths, training files first. */
async function jobFiles(store: Store, job: AssessedJob): Promise<JobFile[]> {
  const wanted = [...job.trainingFiles.map((f) => ({ id: f.file_id, role: 'training' as const })), ...job.validationFiles.map((id) => ({ id, role: 'validation' as const }))];
  const out: JobFile[] = [];
  for (const w of wanted) {
    const file = await getFile(store.db, job.workspaceId, w.id);
    const local = file ? store.blobs.localPath(file.blobKey) : null;
    if (!file || !local) throw new Error(`file ${w.id} of the job is missing or not on this machine's disk`);
    out.push({ fileId: w.id, filename: file.filename, path: local, role: w.role, sha256: file.sha256 });
  }
  return out;
}

/**
 * Validates a job's files and estimates it (steps, tokens, duration, cost) without touching the
 * job: validation (below) stores the result, a dry run (`dry_run=true`) only answers it. Throws
 * UnknownBaseModelError / RangeError for a bad model or seq_len.
 */
export async function assessJob(store: Store, settings: Settings, job: AssessedJob): Promise<Assessment> {
  const model = await resolveBaseModel(job.model, { modelsDir: settings.modelsDir, dataDir: settings.dataDir, python: settings.python });
  const outcome = await validateJobFiles(await jobFiles(store, job), {
    count: await tokenCounter(model.tokenizerPath), jobType: job.jobType, invalidSampleSkipPercentage: job.invalidSampleSkipPercentage,
    classifierTargets: (job.classifierTargets ?? undefined) as ClassifierTarget[] | undefined,
    cache: reportCache(store), tokenizerSha256: await tokenizerSha256(model.tokenizerPath),
  });
  if (!outcome.ok) return { ok: false, message: outcome.message, param: outcome.param };
  const plan = planTraining(job.hyperparameters as Hyperparameters, outcome.dataTokens, model.maxSeqLen);
  const device = settings.device === 'auto' ? ((await latestThroughputDevice(store.db, job.model)) ?? 'cpu') : deviceKind(settings.device);
  const measured = await getThroughput(store.db, job.model, device);
  const estimate = estimateJob({
    plan, tokensPerSecond: measured ?? priorTokensPerSecond(model.params, device), throughputSource: measured ? 'measured' : 'prior',
    pricePerGpuHour: settings.pricePerGpuHour, currency: settings.currency,
  });
  return { ok: true, estimate: { ...estimate, device }, plan: { ...plan, files: outcome.files } };
}

/** Runs the validation of one job; failures end the job (FAILED_VALIDATION or FAILED), never throw for bad data. */
export async function validateNewJob(store: Store, settings: Settings, id: string): Promise<void> {
  const db = store.db;
  const job = await getJobById(db, id);
  if (!job) return;
  if (job.status === 'QUEUED' && !(await transitionJob(db, id, ['QUEUED'], 'STARTED'))) return;
  if (!(await transitionJob(db, id, ['STARTED', 'VALIDATING'], 'VALIDATING'))) return;
  const fail = (to: 'FAILED' | 'FAILED_VALIDATION', code: string, message: string, param: string | null) =>
    transitionJob(db, id, ['VALIDATING'], to, { patch: { error: { code, message, param }, finished: true } });
  try {
    const a = await assessJob(store, settings, job);
    if (!a.ok) return void (await fail('FAILED_VALIDATION', 'invalid_file', a.message, a.param));
    await transitionJob(db, id, ['VALIDATING'], 'VALIDATED', { patch: { estimate: a.estimate, plan: a.plan } });
  } catch (err) {
    if (err instanceof UnknownBaseModelError || err instanceof RangeError) return void (await fail('FAILED_VALIDATION', 'invalid_job', err.message, 'model'));
    await fail('FAILED', 'internal_error', `validation failed: ${err instanceof Error ? err.message : String(err)}`, null);
  }
}
