// The metrics history of a real 200-step tiny-mistral job, served all three ways: every step at
// GET /v1/fine_tuning/jobs/{id}/metrics, OpenAI's per-step metrics events (openai SDK), and the
// result_files CSV downloaded through the Files API, equal to the stored series. seq_len 32 keeps
// each step a few milliseconds.
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from 'mistralai-ft';
import OpenAI from 'openai';
import { completionJob, endedStatuses } from '../helpers/jobs.ts';
import type { TestServer } from '../helpers/server.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { until } from '../helpers/wait.ts';
import type { RunningWorker } from '../../src/worker/index.ts';

// One intra-op thread per trainer: on a shared 2-core runner PyTorch's default thread pool spins
// against the other processes and a step takes 25x longer.
process.env.OMP_NUM_THREADS ??= '1';

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart');
const steps = 200;

type Row = { step: number; train_loss: number | null; learning_rate: number | null; grad_norm: number | null; tokens_per_second: number | null; trained_tokens: number | null; epoch: number | null; valid_loss: number | null; valid_mean_token_accuracy: number | null };
type Fixture = { server: TestServer; worker: RunningWorker; openai: OpenAI; jobId: string };
let f: Fixture;
let stack: TestStack | undefined;

async function getMetrics(jobId: string, key = f.server.key): Promise<Response> {
  return fetch(`${f.server.url}/v1/fine_tuning/jobs/${jobId}/metrics`, { headers: { authorization: `Bearer ${key}` } });
}

before(async () => {
  stack = await startTestStack({ settings: { workerPollMs: 50, workerHeartbeatMs: 200 } });
  const { server, worker } = stack;
  const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
  const upload = async (name: string) => (await mistral.files.upload({ file: { fileName: name, content: await openAsBlob(path.join(example, name)) } })).id;
  const [train, valid] = [await upload('train.jsonl'), await upload('valid.jsonl')];
  const job = completionJob(await mistral.fineTuning.jobs.create({
    model: 'tiny-mistral', trainingFiles: [{ fileId: train, weight: 1 }], validationFiles: [valid], autoStart: true,
    hyperparameters: { trainingSteps: steps, seqLen: 128, learningRate: 0.001 },
  }));
  const done = await until(async () => completionJob(await mistral.fineTuning.jobs.get({ jobId: job.id })), (j) => endedStatuses.includes(j.status), 'the job to end', 240_000, 200);
  assert.equal(done.status, 'SUCCESS');
  f = { server, worker, openai: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key }), jobId: job.id };
});

after(async () => {
  await stack?.stop();
});

async function series(): Promise<Row[]> {
  const res = await getMetrics(f.jobId);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { object: string; job_id: string; data: Row[]; downsampled: boolean };
  assert.equal(body.object, 'list');
  assert.equal(body.job_id, f.jobId);
  assert.equal(body.downsampled, false);
  return body.data;
}

describe('job metrics history (200-step tiny-mistral job)', () => {
  it('GET /metrics has every optimizer step, in order, with its training metrics and the evaluations', async () => {
    const rows = await series();
    assert.deepEqual(rows.map((r) => r.step), Array.from({ length: steps }, (_, i) => i + 1));
    for (const r of rows) {
      assert.ok(typeof r.train_loss === 'number' && r.train_loss > 0, `step ${r.step} has a train loss`);
      assert.ok((r.learning_rate ?? 0) > 0 && (r.grad_norm ?? -1) >= 0 && (r.tokens_per_second ?? 0) > 0 && (r.epoch ?? 0) > 0);
    }
    assert.equal(rows.at(-1)?.trained_tokens, Math.max(...rows.map((r) => r.trained_tokens ?? 0)), 'trained tokens grow to the last step');
    const evaluated = rows.filter((r) => r.valid_loss !== null).map((r) => r.step);
    assert.deepEqual(evaluated, [20, 40, 60, 80, 100, 120, 140, 160, 180, 200], 'an evaluation at each 10% of progress');
    assert.ok(rows.filter((r) => r.valid_loss !== null).every((r) => (r.valid_mean_token_accuracy ?? -1) >= 0));
    const lr = rows.map((r) => r.learning_rate ?? 0);
    assert.ok(Math.max(...lr) > lr[0]! && Math.max(...lr) > lr.at(-1)!, 'the warm-up and decay of the schedule are visible');
  });

  it('OpenAI metrics events: one per step, valid_loss at the evaluated steps (openai SDK)', async () => {
    const events = [];
    for await (const e of f.openai.fineTuning.jobs.listEvents(f.jobId, { limit: 100 })) events.push(e);
    const metrics = events.filter((e) => e.type === 'metrics');
    const data = metrics.map((e) => e.data as { step: number; train_loss: number; train_mean_token_accuracy: unknown; valid_loss: number | null });
    assert.deepEqual(data.map((d) => d.step).sort((a, b) => a - b), Array.from({ length: steps }, (_, i) => i + 1));
    const rows = new Map((await series()).map((r) => [r.step, r]));
    for (const d of data) {
      assert.equal(d.train_loss, rows.get(d.step)?.train_loss);
      assert.equal(d.valid_loss, rows.get(d.step)?.valid_loss);
      assert.ok('train_mean_token_accuracy' in d);
    }
    assert.match(metrics.find((e) => (e.data as { step: number }).step === 200)?.message ?? '', /Step 200\/200: training loss=[\d.]+, validation loss=[\d.]+/);
  });

  it('result_files: a CSV registered as fine-tune-results, downloadable, equal to the stored series', async () => {
    const job = await f.openai.fineTuning.jobs.retrieve(f.jobId);
    assert.equal(job.result_files.length, 1);
    const id = job.result_files[0]!;
    const file = await f.openai.files.retrieve(id);
    assert.equal(file.purpose, 'fine-tune-results');
    assert.equal(file.filename, 'step_metrics.csv');
    const text = await (await f.openai.files.content(id)).text();
    const [header, ...lines] = text.trim().split('\n');
    assert.equal(header, 'step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy');
    const cell = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
    const parsed = lines.map((l) => l.split(',')).map(([step, loss, acc, vloss, vacc]) => ({ step: Number(step), loss: cell(loss), acc: cell(acc), vloss: cell(vloss), vacc: cell(vacc) }));
    const rows = await series();
    assert.deepEqual(parsed, rows.map((r) => ({ step: r.step, loss: r.train_loss, acc: null, vloss: r.valid_loss, vacc: r.valid_mean_token_accuracy })));
  });

  it('is scoped like every route: 401 without a key, 404 from another workspace and for unknown ids', async () => {
    const anonymous = await fetch(`${f.server.url}/v1/fine_tuning/jobs/${f.jobId}/metrics`);
    assert.equal(anonymous.status, 401);
    const other = await f.server.createKey('metrics-other');
    assert.equal((await getMetrics(f.jobId, other.key)).status, 404);
    const missing = await getMetrics('no-such-job');
    assert.equal(missing.status, 404);
    assert.match(JSON.stringify(await missing.json()), /no-such-job/);
  });
});
