// The seed documents' workflow, step by step, with the official SDKs against a live server with the
// embedded worker: files → job (auto_start false) → VALIDATED → start → SUCCESS → list → cancel
// another → chat with the fine-tuned model → delete it. Then the same flow in the OpenAI dialect.
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as MistralJobs } from 'mistralai-ft';
import OpenAI from 'openai';
import { completionJob } from '../helpers/jobs.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart');
/** What the quickstart uses: enough for tiny-mistral to reproduce the trained answers greedily. */
const learned = { trainingSteps: 200, learningRate: 0.003, weightDecay: 0, seqLen: 256 };

/** Training 200 steps on 2 CPU cores takes minutes; the jobs are polled every 200 ms up to this. */
const patience = 300_000;

type Sample = { messages: { role: string; content: string }[] };

let server: TestServer;
let worker: RunningWorker;
let samples: Sample[];

before(async () => {
  server = await startTestServer({ settings: { workerPollMs: 50, workerHeartbeatMs: 200 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  const text = await readFile(path.join(example, 'train.jsonl'), 'utf8');
  samples = text.trim().split('\n').map((l) => JSON.parse(l) as Sample);
});

after(async () => {
  await worker?.stop();
  await server?.close();
});

describe('the seed workflow through the Mistral SDKs', () => {
  it('uploads, validates, starts, trains, lists, cancels, chats and deletes', async () => {
    const client = new Mistral({ serverURL: server.url, apiKey: server.key });
    const jobs = new MistralJobs({ serverURL: server.url, apiKey: server.key }).fineTuning.jobs;

    const trainFile = await client.files.upload({ file: { fileName: 'train.jsonl', content: await openAsBlob(path.join(example, 'train.jsonl')) } });
    const validFile = await client.files.upload({ file: { fileName: 'valid.jsonl', content: await openAsBlob(path.join(example, 'valid.jsonl')) } });
    assert.equal(trainFile.purpose, 'fine-tune');

    const created = completionJob(await jobs.create({
      model: 'tiny-mistral',
      trainingFiles: [{ fileId: trainFile.id, weight: 1 }],
      validationFiles: [validFile.id],
      suffix: 'seed',
      autoStart: false,
      hyperparameters: learned,
    }));
    const validated = completionJob(await until(() => jobs.get({ jobId: created.id }), (j) => completionJob(j).status !== 'QUEUED' && !['STARTED', 'VALIDATING'].includes(completionJob(j).status), 'validation', patience, 200));
    assert.equal(validated.status, 'VALIDATED');
    assert.ok((validated.metadata?.trainTokens ?? 0) > 0 && (validated.metadata?.dataTokens ?? 0) > 0, 'an estimate from real token counts');

    completionJob(await jobs.start({ jobId: created.id }));
    const done = completionJob(await until(() => jobs.get({ jobId: created.id }), (j) => ['SUCCESS', 'FAILED', 'CANCELLED'].includes(completionJob(j).status), 'training', patience, 200));
    assert.equal(done.status, 'SUCCESS');
    const model = done.fineTunedModel;
    assert.ok(model && model.startsWith('ft:tiny-mistral:'), `fine-tuned model id, got ${model}`);
    assert.ok((done.checkpoints?.length ?? 0) > 0, 'checkpoints with metrics');

    const listed = await jobs.list();
    assert.ok(listed.data?.some((j) => completionJob(j).id === created.id));

    const other = completionJob(await jobs.create({
      model: 'tiny-mistral', trainingFiles: [{ fileId: trainFile.id, weight: 1 }], autoStart: false,
      hyperparameters: { trainingSteps: 3, learningRate: 0.0001 },
    }));
    completionJob(await jobs.cancel({ jobId: other.id }));
    const cancelled = completionJob(await until(() => jobs.get({ jobId: other.id }), (j) => completionJob(j).status === 'CANCELLED', 'cancellation', patience, 200));
    assert.equal(cancelled.status, 'CANCELLED');

    const sample = samples[7];
    const reply = await client.chat.complete({ model, messages: sample.messages.slice(0, -1) as never, temperature: 0, maxTokens: 32 });
    assert.equal(reply.choices[0]?.message?.content, sample.messages.at(-1)?.content);

    const deleted = await client.models.delete({ modelId: model });
    assert.equal(deleted.deleted, true);
    await assert.rejects(client.chat.complete({ model, messages: [{ role: 'user', content: 'hi' }] }), (err: { statusCode?: number }) => err.statusCode === 404);
  });
});

describe('the same workflow through the OpenAI SDK', () => {
  it('uploads, trains, lists, cancels, chats and deletes', async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const file = await openai.files.create({ file: await OpenAI.toFile(await readFile(path.join(example, 'train.jsonl')), 'train-openai.jsonl'), purpose: 'fine-tune' });
    const validation = await openai.files.create({ file: await OpenAI.toFile(await readFile(path.join(example, 'valid.jsonl')), 'valid-openai.jsonl'), purpose: 'fine-tune' });

    // The Mistral flow above proves the answers are learnt; a short run proves this dialect's flow.
    const job = await openai.fineTuning.jobs.create({
      model: 'tiny-mistral', training_file: file.id, validation_file: validation.id, suffix: 'seed-oai',
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 4, learning_rate_multiplier: 30 } } },
    });
    const done = await until(() => openai.fineTuning.jobs.retrieve(job.id), (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status), 'openai training', patience, 200);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.ok(done.fine_tuned_model);

    const page = await openai.fineTuning.jobs.list({ limit: 100 });
    assert.ok(page.data.some((j) => j.id === job.id));
    const events = await openai.fineTuning.jobs.listEvents(job.id, { limit: 100 });
    assert.ok(events.data.some((e) => e.type === 'metrics'), 'training metrics among the events');

    const other = await openai.fineTuning.jobs.create({ model: 'tiny-mistral', training_file: file.id, hyperparameters: { n_epochs: 1 } });
    const cancelled = await openai.fineTuning.jobs.cancel(other.id);
    assert.ok(['cancelled', 'running', 'validating_files', 'queued'].includes(cancelled.status));
    await until(() => openai.fineTuning.jobs.retrieve(other.id), (j) => j.status === 'cancelled', 'openai cancellation', patience, 200);

    const reply = await openai.chat.completions.create({ model: done.fine_tuned_model, messages: samples[7].messages.slice(0, -1) as never, temperature: 0, max_tokens: 8 });
    assert.equal(reply.model, done.fine_tuned_model);
    assert.ok(typeof reply.choices[0]?.message.content === 'string' && reply.usage && reply.usage.completion_tokens > 0);

    const deleted = await openai.models.delete(done.fine_tuned_model);
    assert.equal(deleted.deleted, true);
  });
});
