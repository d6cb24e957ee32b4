/**
 * Runs one claimed job to its end: shards (cached), trainer config, the trainer process, events
 * and checkpoints as they happen, heartbeats, cancel (SIGTERM), and on `done` the fine-tuned model
 * registered and the measured throughput recorded. Every state change matches locked_by = this
 * worker, so a worker that lost its job (stale heartbeat, another worker resumed it) changes nothing.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deviceKind, fineTunedModelId, planJobMemory } from '../jobs/index.ts';
import type { Settings } from '../settings/index.ts';
import {
  addCheckpoint, appendEvent, createFineTunedModel, heartbeatJob, localFile, recordThroughput, releaseJob, transitionJob, updateJobProgress,
  type JobRecord, type Store,
} from '../store/index.ts';
import { resolveBaseModel, resolvePython, type BaseModel } from '../models/index.ts';
import { classifierShardWriter, classifierTrainerFields, classifierTrainerModule } from './classifier-job.ts';
import { ensureShard } from '../data/index.ts';
import { writeResultFiles } from './result-files.ts';
import { createMetricsRecorder, type MetricsRecorder } from './metrics-recorder.ts';
import type { TrainerMessage } from './trainer-messages.ts';
import { describeFailure, type ReportedError, type TrainerFailure } from './trainer-failure.ts';
import { startTrainer, type TrainerExit } from './trainer-process.ts';
import { ranksForRun, type WorkerDevices } from './devices.ts';
import { startWandbSink, type WandbSink } from './wandb-sink.ts';

export type WorkerContext = {
  store: Store;
  settings: Settings;
  workerId: string;
  heartbeatMs: number;
  /** What this worker trains on (devices.ts): a run has up to `count` ranks. */
  devices: WorkerDevices;
  /** Aborted when the worker shuts down: the trainer checkpoints and the job is released for the next claim. */
  signal: AbortSignal;
  log(message: string): void;
};

type Run = {
  done: Extract<TrainerMessage, { type: 'done' }> | null;
  error: ReportedError;
  lastCheckpointStep: number | null;
  startedMs: number | null;
  resumedFrom: number;
  device: string | null;
  /** Ranks of the current run (its `started` event). */
  ranks: number;
  metrics: MetricsRecorder;
  cancelled: boolean;
  lost: boolean;
};

/** Shards of the job's files (training with weights, then validation), written or reused; classifier jobs' carry labels. */
async function prepareShards(ctx: WorkerContext, job: JobRecord, model: BaseModel): Promise<{ train: { shard: string; weight: number }[]; valid: string[] }> {
  const ensure = job.jobType === 'classifier' ? classifierShardWriter(job) : ensureShard;
  const shard = async (fileId: string) => {
    const { file, path: local } = await localFile(ctx.store, job.workspaceId, fileId);
    return (await ensure({ dataDir: ctx.settings.dataDir, sourcePath: local, sourceSha256: file.sha256, tokenizerPath: model.tokenizerPath })).dir;
  };
  const train = [];
  for (const f of job.trainingFiles) train.push({ shard: await shard(f.file_id), weight: f.weight });
  const valid = [];
  for (const id of job.validationFiles) valid.push(await shard(id));
  return { train, valid };
}

/** The trainer's config (contracts.md); identical on every attempt so a resumed run matches its checkpoints. */
function trainerConfig(ctx: WorkerContext, job: JobRecord, model: BaseModel, shards: { train: { shard: string; weight: number }[]; valid: string[] }, outDir: string, checkpointLayers: number) {
  const plan = job.plan ?? {};
  const h = job.hyperparameters;
  const n = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);
  return {
    model_dir: model.dir, out_dir: outDir, train: shards.train, valid: shards.valid,
    seq_len: n(plan.seq_len, 512), batch_size: n(h.batch_size, 1), grad_accum: 1, training_steps: n(plan.training_steps, 1), epochs: null,
    learning_rate: n(h.learning_rate, 1e-4), weight_decay: n(h.weight_decay, 0.1), warmup_fraction: n(h.warmup_fraction, 0.05), max_grad_norm: 1.0,
    lora: { rank: n(h.lora_rank, 16), scaling: 2.0, dropout: 0.0 }, seed: job.seed ?? 0, device: ctx.settings.device,
    checkpoint_every: null, resume: true, task: 'completion', classifier: null,
    train_projector: model.vision && (h.train_projector ?? model.trainsVisionByDefault),
    train_vision_encoder: model.vision && (h.train_vision_encoder ?? model.trainsVisionByDefault),
    activation_checkpointing: checkpointLayers === 0 ? false : checkpointLayers, // the memory plan's choice for this worker's device
    parallel: ctx.settings.trainParallel, collective_timeout_s: ctx.settings.trainCollectiveTimeoutS,
    tensorboard_dir: ctx.settings.jobTensorboard ? path.join(outDir, 'tensorboard') : null,
    ...(job.jobType === 'classifier' ? classifierTrainerFields(job) : {}),
  };
}

async function onMessage(ctx: WorkerContext, job: JobRecord, run: Run, m: TrainerMessage, wandb: WandbSink | null): Promise<void> {
  const db = ctx.store.db;
  switch (m.type) {
    case 'started': {
      run.startedMs = Date.now();
      run.resumedFrom = m.resumed_from_step;
      run.device = m.device;
      await updateJobProgress(db, job.id, ctx.workerId, { device: m.device });
      const ranks = m.ranks ?? 1;
      run.ranks = ranks;
      const on = ranks > 1 ? `${m.device} with ${ranks} ranks (${m.parallel})` : m.device;
      await appendEvent(db, job.id, {
        name: 'message', level: 'info',
        data: { total_steps: m.total_steps, resumed_from_step: m.resumed_from_step, device: m.device, ranks, parallel: m.parallel ?? 'none' },
        message: m.resumed_from_step ? `Training resumed from step ${m.resumed_from_step} on ${on}` : `Training started on ${on} (${m.trainable_params} trainable parameters)`,
      });
      return;
    }
    case 'progress': {
      wandb?.log({ step: m.step, total_steps: m.total_steps, train_loss: m.loss, lr: m.lr, grad_norm: m.grad_norm ?? null, tokens_per_s: m.tokens_per_s, trained_tokens: m.trained_tokens });
      await updateJobProgress(db, job.id, ctx.workerId, { trainedTokens: m.trained_tokens });
      await run.metrics.progress(m);
      return;
    }
    case 'checkpoint':
      run.lastCheckpointStep = m.step;
      wandb?.log({ step: m.step, ...m.metrics });
      await addCheckpoint(db, { jobId: job.id, stepNumber: m.step, metrics: m.metrics, path: m.path });
      await run.metrics.evaluation(m);
      await appendEvent(db, job.id, { name: 'checkpoint', level: 'info', data: { step: m.step, ...m.metrics }, message: `Checkpoint at step ${m.step}` });
      return;
    case 'done':
      run.done = m;
      await run.metrics.flush();
      return;
    case 'error':
      run.error = { message: m.message, kind: m.kind };
      return;
    case 'stopped':
      await run.metrics.flush();
      return;
  }
}

/** Keeps the claim alive and watches for a cancel; stops the trainer when either calls for it. */
function watch(ctx: WorkerContext, job: JobRecord, run: Run, stop: () => void): () => void {
  const onAbort = () => stop();
  ctx.signal.addEventListener('abort', onAbort);
  const timer = setInterval(() => {
    heartbeatJob(ctx.store.db, job.id, ctx.workerId).then(({ held, status }) => {
      if (!held) run.lost = true;
      if (status === 'CANCELLATION_REQUESTED') run.cancelled = true;
      if (run.lost || run.cancelled) stop();
    }, (err: unknown) => ctx.log(`heartbeat of job ${job.id} failed: ${String(err)}`));
  }, ctx.heartbeatMs);
  return () => {
    clearInterval(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  };
}

async function finish(ctx: WorkerContext, job: JobRecord, run: Run, failure: TrainerFailure | null): Promise<void> {
  const db = ctx.store.db;
  const held = { lockedBy: ctx.workerId };
  if (run.cancelled) {
    await transitionJob(db, job.id, ['CANCELLATION_REQUESTED'], 'CANCELLED', { ...held, patch: { finished: true, releaseLock: true } });
    return;
  }
  if (!run.done) {
    const message = failure?.reason ?? 'the trainer ended without finishing';
    await transitionJob(db, job.id, ['RUNNING'], 'FAILED', { ...held, patch: { error: { code: 'training_failed', message, param: null }, finished: true, releaseLock: true } });
    return;
  }
  const modelId = fineTunedModelId({ base: job.model, suffix: job.suffix, workspaceId: job.workspaceId, jobId: job.id, createdAt: job.createdAt });
  await createFineTunedModel(db, {
    id: modelId, workspaceId: job.workspaceId, jobId: job.id, baseModel: job.model, modelType: job.jobType,
    adapterDir: run.done.adapter_dir, classifierTargets: job.classifierTargets,
  });
  await recordMeasuredThroughput(ctx, job, run);
  await writeResultFiles(ctx.store, job, ctx.settings.jobMetricsMaxPoints);
  await transitionJob(db, job.id, ['RUNNING'], 'SUCCESS', {
    ...held, patch: { fineTunedModel: modelId, trainedTokens: run.done.trained_tokens, finished: true, releaseLock: true },
  });
}

/** tokens/s per device of this run (train tokens of the steps run here over their wall time and ranks), for later estimates. */
async function recordMeasuredThroughput(ctx: WorkerContext, job: JobRecord, run: Run): Promise<void> {
  const perStep = job.plan?.train_tokens_per_step;
  if (run.startedMs === null || !run.device || typeof perStep !== 'number' || !run.done) return;
  const steps = run.done.step - run.resumedFrom;
  const seconds = (Date.now() - run.startedMs) / 1000;
  if (steps > 0 && seconds > 0) await recordThroughput(ctx.store.db, job.model, deviceKind(run.device), (steps * perStep) / seconds / run.ranks);
}

/**
 * Runs the trainer until the job ends: a trainer that dies (a signal, a crash) is restarted from its
 * last checkpoint up to trainMaxRetries times, with a warning event each time; then FAILED.
 */
async function trainWithRetries(ctx: WorkerContext, job: JobRecord, run: Run, train: () => Promise<TrainerExit>): Promise<void> {
  for (let retry = 0; ; retry++) {
    const exit = await train();
    if (run.lost) return;
    if (ctx.signal.aborted && !run.done && !run.cancelled) return void (await releaseJob(ctx.store.db, job.id, ctx.workerId));
    const failure = run.done || run.cancelled ? null : describeFailure(exit, run.error);
    if (failure) ctx.log(`job ${job.id}: trainer ended (code ${exit.code}, signal ${exit.signal}); its stderr ends with:\n${exit.stderrTail.slice(-1500)}`);
    if (!failure?.retryable || retry >= ctx.settings.trainMaxRetries) {
      const after = failure && retry > 0 ? { ...failure, reason: `${failure.reason} (after ${retry} restart(s) from checkpoints)` } : failure;
      return finish(ctx, job, run, after);
    }
    await announceRetry(ctx, job, run, failure, retry + 1);
    run.error = null;
  }
}

async function announceRetry(ctx: WorkerContext, job: JobRecord, run: Run, failure: TrainerFailure, retry: number): Promise<void> {
  const from = run.lastCheckpointStep === null ? 'its last checkpoint (or the start, if it has none)' : `its checkpoint at step ${run.lastCheckpointStep}`;
  const max = ctx.settings.trainMaxRetries;
  ctx.log(`job ${job.id}: ${failure.reason}; retry ${retry} of ${max}`);
  await appendEvent(ctx.store.db, job.id, {
    name: 'message', level: 'warn', data: { retry, max_retries: max, resume_from_step: run.lastCheckpointStep, reason: failure.reason },
    message: `Training interrupted: ${failure.reason}. Restarting from ${from} (retry ${retry} of ${max})`,
  });
}

/** Blocks to recompute in backward so the job fits this worker's device (src/jobs/memory-plan.ts). */
async function checkpointLayers(ctx: WorkerContext, job: JobRecord, model: BaseModel): Promise<number> {
  const n = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);
  const h = job.hyperparameters;
  const memory = await planJobMemory(ctx.settings, model, { seqLen: n(job.plan?.seq_len, 512), batchSize: n(h.batch_size, 1), loraRank: n(h.lora_rank, 16) });
  if (memory.refusal) ctx.log(`job ${job.id}: ${memory.refusal} (training anyway with every block checkpointed)`);
  return memory.plan.checkpointLayers;
}

/** Runs a job this worker has just claimed; resolves when the job has ended or was lost. */
export async function runClaimedJob(ctx: WorkerContext, job: JobRecord): Promise<void> {
  const db = ctx.store.db;
  if (job.status === 'CANCELLATION_REQUESTED') {
    await transitionJob(db, job.id, ['CANCELLATION_REQUESTED'], 'CANCELLED', { lockedBy: ctx.workerId, patch: { finished: true, releaseLock: true } });
    return;
  }
  if (job.attempts > 1) {
    await appendEvent(db, job.id, { name: 'message', level: 'warn', data: { worker: ctx.workerId, attempt: job.attempts }, message: `Worker ${ctx.workerId} took over the job after its previous worker stopped heartbeating; resuming from the last checkpoint` });
  }
  const run: Run = {
    done: null, error: null, lastCheckpointStep: null, startedMs: null, resumedFrom: 0, device: null, ranks: 1, cancelled: false, lost: false,
    metrics: createMetricsRecorder(ctx.store, job, ctx.settings.jobMetricsMaxPoints),
  };
  let wandb: WandbSink | null = null;
  try {
    const model = await resolveBaseModel(job.model, ctx.settings);
    const outDir = path.join(ctx.settings.dataDir, 'jobs', job.id);
    await mkdir(outDir, { recursive: true });
    const config = trainerConfig(ctx, job, model, await prepareShards(ctx, job, model), outDir, await checkpointLayers(ctx, job, model));
    const configPath = path.join(outDir, 'config.json');
    await writeFile(configPath, JSON.stringify(config, null, 2));
    wandb = await startWandbSink(ctx, job, outDir, config);
    const recipe = job.jobType === 'classifier' ? classifierTrainerModule : 'trainer.train';
    const ranks = ranksForRun(ctx.devices.count, recipe, config.batch_size * config.grad_accum, job.devicesRequired);
    const train = async () => {
      const trainer = startTrainer(resolvePython(ctx.settings.python), configPath, (m) => onMessage(ctx, job, run, m, wandb), ctx.log, {
        module: recipe, ranks, stopGraceS: ctx.settings.trainStopGraceS,
      });
      const unwatch = watch(ctx, job, run, trainer.stop);
      const exit = await trainer.exited.finally(unwatch);
      await run.metrics.flush();
      return exit;
    };
    await trainWithRetries(ctx, job, run, train);
  } catch (err) {
    const message = `the worker could not run the job: ${err instanceof Error ? err.message : String(err)}`;
    await transitionJob(db, job.id, ['RUNNING', 'CANCELLATION_REQUESTED'], 'FAILED', { lockedBy: ctx.workerId, patch: { error: { code: 'worker_error', message, param: null }, finished: true, releaseLock: true } });
  } finally {
    await wandb?.close();
  }
}
