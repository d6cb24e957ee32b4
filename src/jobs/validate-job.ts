/**
 * A new job's validation, run in the API process: QUEUED → STARTED → VALIDATING → VALIDATED (with
 * the estimate; then QUEUED for a worker once started) or FAILED_VALIDATION (file, line and what to change). Each step is guarded by the
 * status it leaves, so a cancel in between simply wins.
 */
import { loadTokenCounter, sha256File, type ClassifierTarget, type TokenCounter } from '../data/index.ts';
import type { Settings } from '../settings/index.ts';
import type { FileReport } from '../data/index.ts';
import {
  appendEvent, DeletedFileError, getDatasetReport, getJobById, getThroughput, latestThroughputDevice, localFile, putDatasetReport, queueStartedJob, transitionJob, type JobRecord, type Store,
} from '../store/index.ts';
import { resolveBaseModel, UnknownBaseModelError } from '../models/index.ts';
import { deviceKind, estimateJob, priorTokensPerSecond, type JobEstimate } from './estimates.ts';
import { exactTrainTokens } from './exact-tokens.ts';
import { planJobMemory, type MemoryEstimate } from './job-memory.ts';
import { hyperparametersSchema, planTraining, type TrainingPlan } from './hyperparameters.ts';
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

/** What an assessment needs of a job: a stored one, or a dry run's request that is never stored. */
export type AssessedJob = Pick<
  JobRecord, 'workspaceId' | 'model' | 'seed' | 'trainingFiles' | 'validationFiles' | 'jobType' | 'invalidSampleSkipPercentage' | 'classifierTargets' | 'hyperparameters'
>;

export type Assessment =
  | { ok: true; estimate: JobEstimate & { device: string; memory: MemoryEstimate; skipped_lines: number }; plan: TrainingPlan & { files: unknown } }
  | { ok: false; message: string; param: string | null };

/** The job's files as local paths, training files first. */
async function jobFiles(store: Store, job: AssessedJob): Promise<JobFile[]> {
  const wanted = [...job.trainingFiles.map((f) => ({ id: f.file_id, role: 'training' as const })), ...job.validationFiles.map((id) => ({ id, role: 'validation' as const }))];
  const out: JobFile[] = [];
  for (const w of wanted) {
    const { file, path } = await localFile(store, job.workspaceId, w.id);
    out.push({ fileId: w.id, filename: file.filename, path, role: w.role, sha256: file.sha256 });
  }
  return out;
}

/** Epochs are only bounded at creation; on the job's data they may still come to too many steps. */
function tooManySteps(steps: number, max: number): string | null {
  if (steps <= max) return null;
  return `the requested epochs come to ${steps} steps on this data, above the most allowed, ${max} (setting jobMaxTrainingSteps); ask for fewer epochs or set training_steps.`;
}

/**
 * Validates a job's files and estimates it (steps, tokens, duration, cost) without touching the
 * job: validation (below) stores the result, a dry run (`dry_run=true`) only answers it. Throws
 * UnknownBaseModelError / RangeError for a bad model or seq_len.
 */
export async function assessJob(store: Store, settings: Settings, job: AssessedJob): Promise<Assessment> {
  const model = await resolveBaseModel(job.model, settings);
  const outcome = await validateJobFiles(await jobFiles(store, job), {
    count: await tokenCounter(model.tokenizerPath), jobType: job.jobType, invalidSampleSkipPercentage: job.invalidSampleSkipPercentage,
    classifierTargets: (job.classifierTargets ?? undefined) as ClassifierTarget[] | undefined,
    cache: reportCache(store), tokenizerSha256: await sha256File(model.tokenizerPath), imagesAllowed: model.vision,
    shards: { dataDir: settings.dataDir, tokenizerPath: model.tokenizerPath },
  });
  if (!outcome.ok) return { ok: false, message: outcome.message, param: outcome.param };
  const h = hyperparametersSchema.parse(job.hyperparameters);
  const visionPart = h.train_projector ? 'train_projector' : h.train_vision_encoder ? 'train_vision_encoder' : null;
  if (visionPart && !model.vision) {
    return { ok: false, message: `${visionPart} needs a base model with a vision encoder; ${job.model} reads text only (leave it unset or pick a vision base such as tiny-pixtral)`, param: `hyperparameters.${visionPart}` };
  }
  const planned = planTraining(h, outcome.dataTokens, model.maxSeqLen);
  // Completion packing is replayed exactly; classifier jobs keep the step capacity (their recipe packs differently).
  const plan = job.jobType === 'completion' ? { ...planned, train_tokens: await exactTrainTokens(store, settings, job, model, planned) } : planned;
  const tooMany = tooManySteps(plan.training_steps, settings.jobMaxTrainingSteps);
  if (tooMany) return { ok: false, message: tooMany, param: 'hyperparameters.epochs' };
  const memory = await planJobMemory(settings, model, { seqLen: plan.seq_len, batchSize: h.batch_size, loraRank: h.lora_rank });
  if (memory.refusal) return { ok: false, message: memory.refusal, param: 'hyperparameters.seq_len' };
  const device = settings.device === 'auto' ? ((await latestThroughputDevice(store.db, job.model)) ?? 'cpu') : deviceKind(settings.device);
  const measured = await getThroughput(store.db, job.model, device);
  const estimate = estimateJob({
    plan, tokensPerSecond: measured ?? priorTokensPerSecond(model.params, device), throughputSource: measured ? 'measured' : 'prior',
    pricePerGpuHour: settings.pricePerGpuHour, currency: settings.currency,
  });
  return { ok: true, estimate: { ...estimate, device, memory: memory.estimate, skipped_lines: outcome.skippedLines }, plan: { ...plan, files: outcome.files } };
}

/** Runs the validation of one job; failures end the job (FAILED_VALIDATION or FAILED); throws only for a server-side failure, after failing the job. */
export async function validateNewJob(store: Store, settings: Settings, id: string): Promise<void> {
  const db = store.db;
  const job = await getJobById(db, id);
  if (!job || job.plan) return; // a plan means validated (a started job waits at QUEUED with it)
  if (job.status === 'QUEUED' && !(await transitionJob(db, id, ['QUEUED'], 'STARTED'))) return;
  if (!(await transitionJob(db, id, ['STARTED', 'VALIDATING'], 'VALIDATING'))) return;
  const fail = (to: 'FAILED' | 'FAILED_VALIDATION', code: string, message: string, param: string | null) =>
    transitionJob(db, id, ['VALIDATING'], to, { patch: { error: { code, message, param }, finished: true } });
  try {
    const a = await assessJob(store, settings, job);
    if (!a.ok) return void (await fail('FAILED_VALIDATION', a.param?.startsWith('hyperparameters.') ? 'invalid_job' : 'invalid_file', a.message, a.param));
    const skipped = a.estimate.skipped_lines;
    // Lines dropped under invalid_sample_skip_percentage are never silent: in the metadata, on the
    // VALIDATED event, and as a warning event of their own.
    await transitionJob(db, id, ['VALIDATING'], 'VALIDATED', { patch: { estimate: a.estimate, plan: a.plan }, eventData: { skipped_lines: skipped } });
    if (skipped > 0) {
      await appendEvent(db, id, {
        name: 'lines-skipped', level: 'warn', data: { skipped_lines: skipped },
        message: `${skipped} invalid dataset line${skipped === 1 ? '' : 's'} skipped under invalid_sample_skip_percentage=${job.invalidSampleSkipPercentage}; the dataset report lists them`,
      });
    }
    await queueStartedJob(db, id); // auto_start, or /start during validation
  } catch (err) {
    if (err instanceof UnknownBaseModelError || err instanceof RangeError) return void (await fail('FAILED_VALIDATION', 'invalid_job', err.message, 'model'));
    if (err instanceof DeletedFileError) return void (await fail('FAILED_VALIDATION', 'invalid_file', err.message, err.fileId));
    // The job's error is shown to clients: no server paths (an ENOENT message carries one). The
    // caller (JobsService.validateInBackground) logs what is rethrown.
    await fail('FAILED', 'internal_error', 'validation failed on the server; its log has the details (search for the job id).', null);
    throw err;
  }
}
