/**
 * A new job's validation, run in the API process: QUEUED → STARTED → VALIDATING → VALIDATED (with
 * the estimate) or FAILED_VALIDATION (file, line and what to change). Each step is guarded by the
 * status it leaves, so a cancel in between simply wins.
 */
import { loadTokenCounter, sha256File, type ClassifierTarget, type TokenCounter } from '../data/index.ts';
import type { Settings } from '../settings/index.ts';
import type { FileReport } from '../data/index.ts';
import {
  getDatasetReport, getJobById, getThroughput, latestThroughputDevice, localFile, putDatasetReport, transitionJob, type JobRecord, type Store,
} from '../store/index.ts';
import { resolveBaseModel, UnknownBaseModelError } from '../models/index.ts';
import { deviceKind, estimateJob, priorTokensPerSecond } from './estimates.ts';
import { hyperparametersSchema, planTraining } from './hyperparameters.ts';
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

/** Reports kept in the database, so jobs over the same bytes and tokenizer never validate again. */
function reportCache(store: Store): ReportCache {
  return {
    get: async (key) => (await getDatasetReport(store.db, key)) as FileReport | null,
    put: (key, report) => putDatasetReport(store.db, key, report),
  };
}

/** The job's files as local paths, training files first. */
async function jobFiles(store: Store, job: JobRecord): Promise<JobFile[]> {
  const wanted = [...job.trainingFiles.map((f) => ({ id: f.file_id, role: 'training' as const })), ...job.validationFiles.map((id) => ({ id, role: 'validation' as const }))];
  const out: JobFile[] = [];
  for (const w of wanted) {
    const { file, path } = await localFile(store, job.workspaceId, w.id);
    out.push({ fileId: w.id, filename: file.filename, path, role: w.role, sha256: file.sha256 });
  }
  return out;
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
    const model = await resolveBaseModel(job.model, { modelsDir: settings.modelsDir, dataDir: settings.dataDir, python: settings.python });
    const outcome = await validateJobFiles(await jobFiles(store, job), {
      count: await tokenCounter(model.tokenizerPath), jobType: job.jobType, invalidSampleSkipPercentage: job.invalidSampleSkipPercentage,
      classifierTargets: (job.classifierTargets ?? undefined) as ClassifierTarget[] | undefined,
      cache: reportCache(store), tokenizerSha256: await sha256File(model.tokenizerPath),
      shards: { dataDir: settings.dataDir, tokenizerPath: model.tokenizerPath },
    });
    if (!outcome.ok) return void (await fail('FAILED_VALIDATION', 'invalid_file', outcome.message, outcome.param));
    const plan = planTraining(hyperparametersSchema.parse(job.hyperparameters), outcome.dataTokens, model.maxSeqLen);
    const device = settings.device === 'auto' ? ((await latestThroughputDevice(db, job.model)) ?? 'cpu') : deviceKind(settings.device);
    const measured = await getThroughput(db, job.model, device);
    const estimate = estimateJob({
      plan, tokensPerSecond: measured ?? priorTokensPerSecond(model.params, device), throughputSource: measured ? 'measured' : 'prior',
      pricePerGpuHour: settings.pricePerGpuHour, currency: settings.currency,
    });
    await transitionJob(db, id, ['VALIDATING'], 'VALIDATED', { patch: { estimate: { ...estimate, device }, plan: { ...plan, files: outcome.files } } });
  } catch (err) {
    if (err instanceof UnknownBaseModelError || err instanceof RangeError) return void (await fail('FAILED_VALIDATION', 'invalid_job', err.message, 'model'));
    await fail('FAILED', 'internal_error', `validation failed: ${err instanceof Error ? err.message : String(err)}`, null);
  }
}
