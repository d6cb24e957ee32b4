// The worker's metrics recorder on a real SQLite store, fed trainer messages as the trainer sends
// them: every step stored, the evaluation merged into its step's row and event, and past the bound
// the events thinned with the same stride as the rows (the last step always kept).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { it, type TestContext } from 'node:test';
import { ensureWorkspace, getJobById, insertJob, listJobEvents, listJobMetrics, openStore, type JobRecord, type Store } from '../store/index.ts';
import { createMetricsRecorder } from './metrics-recorder.ts';

async function setup(t: TestContext): Promise<{ store: Store; job: JobRecord }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-recorder-'));
  const store = await openStore({ dataDir });
  t.after(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const ws = await ensureWorkspace(store.db, 'default');
  const inserted = await insertJob(store.db, {
    workspaceId: ws.id, createdBy: null, dialect: 'openai', jobType: 'completion', model: 'tiny-mistral', autoStart: true,
    trainingFiles: [{ file_id: 'f', weight: 1 }], validationFiles: [], hyperparameters: {}, suffix: null, integrations: [],
    repositories: [], classifierTargets: null, userMetadata: {}, invalidSampleSkipPercentage: 0, seed: null, dedupeKey: 'k',
  });
  const job = await getJobById(store.db, inserted.id);
  assert.ok(job);
  return { store, job: { ...job, plan: { train_tokens_per_step: 32, data_tokens: 320 } } };
}

async function feed(store: Store, job: JobRecord, steps: number, maxPoints: number): Promise<void> {
  const recorder = createMetricsRecorder(store, job, maxPoints);
  for (let step = 1; step <= steps; step++) {
    await recorder.progress({ type: 'progress', step, total_steps: steps, loss: 3 - step / steps, lr: 1e-3, grad_norm: 1, tokens_per_s: 100, trained_tokens: step * 32 });
    if (step % 10 === 0) await recorder.evaluation({ type: 'checkpoint', step, path: '/x', metrics: { train_loss: 2, valid_loss: 2.5, valid_mean_token_accuracy: 0.4, classifier: null } });
  }
  await recorder.flush();
}

type Data = { step: number; valid_loss: number | null; train_loss: number };

it('stores every step and sends one metrics event per step, evaluations merged into theirs', async (t) => {
  const { store, job } = await setup(t);
  await feed(store, job, 30, 1000);
  const { points } = await listJobMetrics(store.db, job.id, 1000);
  assert.deepEqual(points.map((p) => p.step), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.equal(points[9]?.epoch, 1, '10 steps of 32 tokens over 320 data tokens');
  const events = (await listJobEvents(store.db, job.id, { names: ['metrics'], limit: 1000 })).map((e) => ({ ...e, data: e.data as Data }));
  assert.deepEqual(events.map((e) => e.data.step).sort((a, b) => a - b), points.map((p) => p.step));
  const at20 = events.find((e) => e.data.step === 20);
  assert.equal(at20?.data.valid_loss, 2.5);
  assert.equal(at20?.data.train_loss, 3 - 20 / 30, "the step's own loss, not the checkpoint's average");
  assert.match(at20?.message ?? '', /^Step 20\/30: training loss=2\.3333, validation loss=2\.5000$/);
  assert.equal(events.find((e) => e.data.step === 21)?.data.valid_loss, null);
});

it('past the bound thins events like the rows, keeping evaluations and the last step', async (t) => {
  const { store, job } = await setup(t);
  await feed(store, job, 203, 32);
  const { points, downsampled } = await listJobMetrics(store.db, job.id, 32);
  assert.equal(downsampled, true);
  assert.ok(points.length <= 32);
  const steps = (await listJobEvents(store.db, job.id, { names: ['metrics'], limit: 1000 })).map((e) => (e.data as Data).step);
  assert.ok(steps.length < 120, `${steps.length} events for 203 steps`);
  assert.ok(steps.includes(203) && steps.includes(200) && steps.includes(10));
  for (const p of points) assert.ok(steps.includes(p.step), `every kept row (step ${p.step}) has its event`);
});
