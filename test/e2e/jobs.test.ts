// The fine-tuning jobs lifecycle through the official SDKs against a live server with the embedded
// worker, on tiny-mistral: mistralai-ft (2.4.0, checked with jobType / isUnknown), mistralai-v1
// (1.15.1, strict parsing) and openai (7.57.0). Training is a few short steps so each job takes seconds.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from 'mistralai-ft';
import { Mistral as MistralV1 } from 'mistralai-v1';
import OpenAI from 'openai';
import { endedStatuses, knownJob } from '../helpers/jobs.ts';
import type { TestServer } from '../helpers/server.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { until } from '../helpers/wait.ts';
import { resolvePython } from '../../src/models/index.ts';
import type { RunningWorker } from '../../src/worker/index.ts';

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart');
const tiny = { trainingSteps: 4, seqLen: 128, learningRate: 0.001 };
const ended = endedStatuses;

type Fixture = { server: TestServer; worker: RunningWorker; mistral: Mistral; strict: MistralV1; openai: OpenAI; train: string; valid: string; bad: string; labelled: string };
let f: Fixture;
let stack: TestStack | undefined;

before(async () => {
  stack = await startTestStack({ settings: { workerPollMs: 50, workerHeartbeatMs: 200 } });
  const { server, worker } = stack;
  const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
  const upload = async (name: string, file: string) => (await mistral.files.upload({ file: { fileName: name, content: await openAsBlob(file) } })).id;
  const badPath = path.join(server.dataDir, 'bad.jsonl');
  const good = (await readFile(path.join(example, 'train.jsonl'), 'utf8')).trim().split('\n');
  await writeFile(badPath, [good[0], good[1], '{"messages": [{"role": "user", "content": "no answer"}]}', ...good.slice(2, 10)].join('\n') + '\n');
  const labelledPath = path.join(server.dataDir, 'moods.jsonl');
  const moods = Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `day ${i} was ${i % 2 ? 'grim' : 'sunny'}`, labels: { mood: i % 2 ? 'sad' : 'happy' } }));
  await writeFile(labelledPath, moods.join('\n') + '\n');
  f = {
    server, worker, mistral,
    strict: new MistralV1({ serverURL: server.url, apiKey: server.key }),
    openai: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key }),
    train: await upload('train.jsonl', path.join(example, 'train.jsonl')),
    valid: await upload('valid.jsonl', path.join(example, 'valid.jsonl')),
    bad: await upload('bad.jsonl', badPath),
    labelled: await upload('moods.jsonl', labelledPath),
  };
});

after(async () => {
  await stack?.stop();
});

async function jobsCreate(request: Parameters<Mistral['fineTuning']['jobs']['create']>[0]) {
  return knownJob(await f.mistral.fineTuning.jobs.create(request));
}

async function getJob(id: string) {
  return knownJob(await f.mistral.fineTuning.jobs.get({ jobId: id }));
}

describe('fine-tuning jobs through mistralai-ft 2.4.0', () => {
  it('auto_start false: validates with estimates, waits at VALIDATED, trains after /start, registers the model', async () => {
    const created = await jobsCreate({
      model: 'tiny-mistral', trainingFiles: [{ fileId: f.train, weight: 1 }], validationFiles: [f.valid], suffix: 'pirate',
      autoStart: false, hyperparameters: tiny,
    });
    assert.equal(created.jobType, 'completion');
    assert.ok(!('isUnknown' in created));
    const validated = await until(() => getJob(created.id), (j) => j.status === 'VALIDATED', 'VALIDATED');
    assert.equal(validated.jobType, 'completion');
    if (validated.jobType !== 'completion') return;
    const m = validated.metadata;
    assert.ok(m && m.dataTokens && m.dataTokens > 500, 'data tokens come from tokenizing the file');
    assert.equal(m?.trainTokensPerStep, 128);
    const estimated = m?.trainTokens ?? 0;
    assert.ok(estimated > 0 && estimated < 4 * 128, `train_tokens ${estimated} counts trained targets, not the step capacity of ${4 * 128}`);
    assert.ok((m?.expectedDurationSeconds ?? 0) > 0 && (m?.cost ?? -1) >= 0 && m?.costCurrency === 'USD');
    assert.ok(Number.isInteger(m?.estimatedStartTime), 'a waiting job has an estimated start time');
    assert.equal(validated.hyperparameters.epochs, Math.round((512 / (m?.dataTokens ?? 1)) * 1e4) / 1e4);
    const again = await getJob(created.id);
    assert.equal(again.status, 'VALIDATED', 'auto_start false keeps the job at VALIDATED');
    const started = await knownJob(await f.mistral.fineTuning.jobs.start({ jobId: created.id }));
    assert.equal(started.jobType, 'completion');
    assert.ok(['QUEUED', 'RUNNING'].includes(started.status), `a started job moves on at once, not ${started.status}`);
    const done = await until(() => getJob(created.id), (j) => ended.includes(j.status), 'the end of training');
    assert.equal(done.status, 'SUCCESS');
    if (done.jobType !== 'completion') return assert.fail('not a completion job');
    assert.match(done.fineTunedModel ?? '', /^ft:tiny-mistral:pirate:[0-9a-f]{8}:\d{8}:[0-9a-f]{8}$/);
    assert.deepEqual(done.events?.map((e) => e.data?.status), ['SUCCESS', 'RUNNING', 'QUEUED', 'VALIDATED', 'VALIDATING', 'STARTED', 'QUEUED']);
    assert.ok(done.events?.every((e) => e.name === 'status-updated' && Number.isInteger(e.createdAt)));
    const ckpt = done.checkpoints ?? [];
    assert.equal(ckpt[0]?.stepNumber, 4, 'newest checkpoint first, at the last step');
    assert.equal(typeof ckpt[0]?.metrics.validLoss, 'number', 'validation files give validation metrics');
    assert.ok((done.trainedTokens ?? 0) > 0);
    assert.ok(Math.abs((done.trainedTokens ?? 0) - estimated) <= 0.02 * estimated, `estimate ${estimated} vs trained ${done.trainedTokens}`);
    assert.equal(done.trainedTokens, estimated, 'packing is deterministic, so the estimate is exact');
    await assert.rejects(f.mistral.fineTuning.jobs.start({ jobId: created.id }), (e: { statusCode?: number }) => e.statusCode === 409);
  });

  it('a second job with the same model, files and hyperparameters gets 409 while the first is active', async () => {
    const body = { model: 'tiny-mistral', trainingFiles: [{ fileId: f.train, weight: 1 }], autoStart: false, hyperparameters: { ...tiny, trainingSteps: 3 } };
    const first = await jobsCreate(body);
    await assert.rejects(jobsCreate(body), (e: { statusCode?: number; body?: string }) => e.statusCode === 409 && String(e.body).includes(first.id));
    const cancelled = await knownJob(await f.mistral.fineTuning.jobs.cancel({ jobId: first.id }));
    assert.equal(cancelled.status, 'CANCELLED', 'a job no worker holds is cancelled at once');
    await assert.rejects(f.mistral.fineTuning.jobs.cancel({ jobId: first.id }), (e: { statusCode?: number }) => e.statusCode === 409);
    const again = await jobsCreate(body);
    assert.notEqual(again.id, first.id, 'once the first is cancelled the same job may be created');
    await knownJob(await f.mistral.fineTuning.jobs.cancel({ jobId: again.id }));
  });

  it('FAILED_VALIDATION names the file and the bad line', async () => {
    const created = await jobsCreate({ model: 'tiny-mistral', trainingFiles: [{ fileId: f.bad, weight: 1 }], hyperparameters: tiny });
    const failed = await until(() => getJob(created.id), (j) => ended.includes(j.status), 'validation');
    assert.equal(failed.status, 'FAILED_VALIDATION');
    const reason = JSON.stringify(failed.events?.[0]?.data);
    assert.match(reason, /bad\.jsonl/);
    assert.match(reason, /line 3/);
    const tolerant = await jobsCreate({
      model: 'tiny-mistral', trainingFiles: [{ fileId: f.bad, weight: 1 }], invalidSampleSkipPercentage: 0.2, autoStart: false, hyperparameters: tiny,
    });
    const ok = await until(() => getJob(tolerant.id), (j) => j.status !== 'QUEUED' && j.status !== 'STARTED' && j.status !== 'VALIDATING', 'validation');
    assert.equal(ok.status, 'VALIDATED', 'one bad line in ten is within invalid_sample_skip_percentage 0.2');
    const validated = ok.events?.find((e) => (e.data as { status?: string } | null)?.status === 'VALIDATED');
    assert.equal((validated?.data as { skipped_lines?: number }).skipped_lines, 1, 'the skipped line is on the VALIDATED event');
    const raw = await (await fetch(`${f.server.url}/v1/fine_tuning/jobs/${tolerant.id}`, { headers: { authorization: `Bearer ${f.server.key}` } })).json() as { metadata: { skipped_lines: number } };
    assert.equal(raw.metadata.skipped_lines, 1, 'and in the metadata');
    const events = await (await fetch(`${f.server.url}/v1/fine_tuning/jobs/${tolerant.id}/events`, { headers: { authorization: `Bearer ${f.server.key}` } })).json() as { data: { level: string; message: string }[] };
    assert.ok(events.data.some((e) => e.level === 'warn' && /1 invalid dataset line skipped/.test(e.message)), JSON.stringify(events.data));
    await knownJob(await f.mistral.fineTuning.jobs.cancel({ jobId: tolerant.id }));
  });

  it('an unknown base model is a 400 listing the available ones', async () => {
    await assert.rejects(
      jobsCreate({ model: 'no-such-model', trainingFiles: [{ fileId: f.train, weight: 1 }], hyperparameters: tiny }),
      (e: { statusCode?: number; body?: string }) => e.statusCode === 400 && String(e.body).includes('tiny-mistral'),
    );
  });

  it('cancel during training stops the trainer and ends CANCELLED', async () => {
    const created = await jobsCreate({
      model: 'tiny-mistral', trainingFiles: [{ fileId: f.train, weight: 1 }], hyperparameters: { ...tiny, trainingSteps: 5000 },
    });
    await until(() => f.openai.fineTuning.jobs.listEvents(created.id), (p) => p.data.some((e) => e.type === 'metrics'), 'training progress');
    const requested = await knownJob(await f.mistral.fineTuning.jobs.cancel({ jobId: created.id }));
    assert.ok(['CANCELLATION_REQUESTED', 'CANCELLED'].includes(requested.status));
    const done = await until(() => getJob(created.id), (j) => ended.includes(j.status), 'cancellation');
    assert.equal(done.status, 'CANCELLED');
    const statuses = done.events?.map((e) => e.data?.status);
    assert.deepEqual(statuses?.slice(0, 3), ['CANCELLED', 'CANCELLATION_REQUESTED', 'RUNNING']);
    assert.ok((done.checkpoints ?? []).length >= 1, 'the stopped trainer wrote a checkpoint on SIGTERM');
  });

  it('lists filter by status, model, suffix and dates, and page with page/page_size', async () => {
    const all = await f.mistral.fineTuning.jobs.list({});
    assert.ok(all.total >= 5);
    assert.ok(all.data?.every((j) => j.jobType === 'completion'));
    const succeeded = await f.mistral.fineTuning.jobs.list({ status: 'SUCCESS' });
    assert.ok(succeeded.total >= 1 && succeeded.data?.every((j) => knownJob(j).status === 'SUCCESS'));
    assert.equal((await f.mistral.fineTuning.jobs.list({ suffix: 'pirate' })).total, 1);
    assert.equal((await f.mistral.fineTuning.jobs.list({ model: 'other' })).total, 0);
    assert.equal((await f.mistral.fineTuning.jobs.list({ createdAfter: new Date(Date.now() + 3600_000) })).total, 0);
    assert.equal((await f.mistral.fineTuning.jobs.list({ createdBefore: new Date(Date.now() + 3600_000) })).total, all.total);
    assert.equal((await f.mistral.fineTuning.jobs.list({ createdByMe: true })).total, all.total, 'every job here was created with this key');
    const other = await f.server.createKey('elsewhere');
    const stranger = new Mistral({ serverURL: f.server.url, apiKey: other.key });
    assert.equal((await stranger.fineTuning.jobs.list()).total, 0, 'jobs are scoped to the workspace');
    const p0 = await f.mistral.fineTuning.jobs.list({ page: 0, pageSize: 2 });
    const p1 = await f.mistral.fineTuning.jobs.list({ page: 1, pageSize: 2 });
    assert.equal(p0.data?.length, 2);
    assert.notEqual(knownJob(p0.data?.[0]).id, knownJob(p1.data?.[0]).id);
  });
});

describe('fine-tuning jobs through mistralai-v1 1.15.1 (strict)', () => {
  it('auto_start true runs QUEUED → … → SUCCESS and every reply parses strictly', async () => {
    const created = await f.strict.fineTuning.jobs.create({
      model: 'tiny-mistral', trainingFiles: [{ fileId: f.train, weight: 1 }], hyperparameters: { ...tiny, trainingSteps: 3 }, autoStart: true,
    });
    assert.ok('jobType' in created && created.jobType === 'completion');
    const done = await until(() => f.strict.fineTuning.jobs.get({ jobId: created.id }), (j) => ended.includes(j.status), 'SUCCESS');
    assert.equal(done.status, 'SUCCESS');
    assert.deepEqual(done.events?.map((e) => e.data?.status).reverse(), ['QUEUED', 'STARTED', 'VALIDATING', 'VALIDATED', 'QUEUED', 'RUNNING', 'SUCCESS']);
    const list = await f.strict.fineTuning.jobs.list({ status: 'SUCCESS', pageSize: 50 });
    assert.ok(list.data?.some((j) => j.id === created.id));
  });

  it('classifier jobs store their targets and render classifier details', async () => {
    const created = knownJob(await f.strict.fineTuning.jobs.create({
      model: 'tiny-mistral', jobType: 'classifier', trainingFiles: [{ fileId: f.labelled, weight: 1 }], autoStart: false,
      hyperparameters: { trainingSteps: 2, learningRate: 0.0001 }, classifierTargets: [{ name: 'mood', labels: ['happy', 'sad'], weight: 1 }],
    }));
    const got = await f.strict.fineTuning.jobs.get({ jobId: created.id });
    assert.equal(got.jobType, 'classifier');
    if (got.jobType !== 'classifier') return;
    assert.deepEqual(got.classifierTargets.map((t) => [t.name, t.labels, t.lossFunction]), [['mood', ['happy', 'sad'], 'single_class']]);
    const validated = await until(() => f.strict.fineTuning.jobs.get({ jobId: created.id }), (j) => j.status !== 'QUEUED' && j.status !== 'STARTED' && j.status !== 'VALIDATING', 'validation');
    assert.equal(validated.status, 'VALIDATED', 'labelled text samples are valid classifier data');
    await f.strict.fineTuning.jobs.cancel({ jobId: created.id });
  });
});

describe('fine-tuning jobs through openai 7.57.0', () => {
  it('training_file + n_epochs runs to succeeded with events and checkpoints pages', async () => {
    const job = await f.openai.fineTuning.jobs.create({
      model: 'tiny-mistral', training_file: f.train, suffix: 'oa', metadata: { team: 'blue' },
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 1, learning_rate_multiplier: 10 } } },
    });
    assert.equal(job.object, 'fine_tuning.job');
    assert.equal(job.training_file, f.train);
    const done = await until(() => f.openai.fineTuning.jobs.retrieve(job.id), (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status), 'succeeded');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.ok(typeof done.hyperparameters.n_epochs === 'number' && done.hyperparameters.n_epochs >= 1, 'n_epochs 1 → whole steps covering at least one epoch');
    assert.equal(done.hyperparameters.learning_rate_multiplier, 10);
    assert.ok(done.fine_tuned_model?.startsWith('ft:tiny-mistral:oa:'));
    const events = await f.openai.fineTuning.jobs.listEvents(job.id, { limit: 100 });
    assert.ok(events.data.some((e) => e.type === 'metrics'));
    assert.equal(events.data[0]?.message.includes('SUCCESS'), true, 'newest event first');
    const ckpts = await f.openai.fineTuning.jobs.checkpoints.list(job.id);
    assert.equal(ckpts.data[0]?.fine_tuning_job_id, job.id);
    assert.equal(typeof ckpts.data[0]?.metrics.train_loss, 'number');
    const tagged = await f.openai.fineTuning.jobs.list({ metadata: { team: 'blue' } });
    assert.deepEqual(tagged.data.map((j) => j.id), [job.id]);
  });

  it('409 on a duplicate arrives once (x-should-retry: false) as ConflictError', async () => {
    const body = { model: 'tiny-mistral', training_file: f.valid, hyperparameters: { n_epochs: 1 } };
    const first = await f.openai.fineTuning.jobs.create(body);
    let requests = 0;
    const counting = new OpenAI({ baseURL: `${f.server.url}/v1`, apiKey: f.server.key, fetch: (url, init) => ((requests += 1), fetch(url, init)) });
    await assert.rejects(counting.fineTuning.jobs.create(body), (e) => e instanceof OpenAI.ConflictError && e.status === 409);
    assert.equal(requests, 1, 'the SDK did not retry the 409');
    await until(() => f.openai.fineTuning.jobs.retrieve(first.id), (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status), 'end');
  });
});

/** Null when the venv's wandb client imports, else why not (wandb 0.30 needs opentelemetry semconv). */
function wandbSkipReason(): string | null {
  try {
    execFileSync(resolvePython(''), ['-c', 'import wandb'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (err) {
    const tail = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n').at(-1);
    return `the wandb client cannot be imported here (${tail}); install its dependencies to run this test`;
  }
}

describe('W&B integration', () => {
  const skip = wandbSkipReason();

  it('a job with a wandb integration succeeds and never echoes the api key', async () => {
    process.env.WANDB_MODE = 'offline';
    const created = await jobsCreate({
      model: 'tiny-mistral', trainingFiles: [{ fileId: f.train, weight: 1 }], hyperparameters: { ...tiny, trainingSteps: 2 },
      integrations: [{ type: 'wandb', project: 'atelier-e2e', name: 'tiny', apiKey: 'k'.repeat(40) }],
    });
    const done = await until(() => getJob(created.id), (j) => ended.includes(j.status), 'SUCCESS');
    assert.equal(done.status, 'SUCCESS');
    assert.equal(done.integrations?.[0]?.project, 'atelier-e2e');
    const raw = await fetch(`${f.server.url}/v1/fine_tuning/jobs/${created.id}`, { headers: { authorization: `Bearer ${f.server.key}` } });
    assert.ok(!(await raw.text()).includes('k'.repeat(40)));
    const filtered = await f.mistral.fineTuning.jobs.list({ wandbProject: 'atelier-e2e', wandbName: 'tiny' });
    assert.deepEqual(filtered.data?.map((j) => knownJob(j).id), [created.id]);
  });

  it('logs the metrics through the real wandb client into an offline run', { skip: skip ?? false }, async () => {
    process.env.WANDB_MODE = 'offline';
    const created = await jobsCreate({
      model: 'tiny-mistral', trainingFiles: [{ fileId: f.train, weight: 1 }], hyperparameters: { ...tiny, trainingSteps: 3 },
      integrations: [{ type: 'wandb', project: 'atelier-e2e-run', apiKey: 'k'.repeat(40) }],
    });
    const done = await until(() => getJob(created.id), (j) => ended.includes(j.status), 'SUCCESS');
    assert.equal(done.status, 'SUCCESS');
    const wandbDir = path.join(f.server.dataDir, 'jobs', created.id, 'wandb');
    const runs = (await readdir(wandbDir)).filter((n) => n.startsWith('offline-run-'));
    assert.equal(runs.length, 1);
    const files = await readdir(path.join(wandbDir, runs[0] as string));
    assert.ok(files.some((n) => n.endsWith('.wandb')), `a .wandb run file in ${files.join(', ')}`);
  });
});
