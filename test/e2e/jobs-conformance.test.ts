// Fine-tuning job creation against Mistral's official spec (issue #14), without a worker (nothing
// trains; validation runs in the API process): dry_run answers the estimate and creates nothing,
// the spec's bounds hold (suffix <= 18, seq_len >= 100, learning_rate <= 1), OpenAI's n_epochs is
// an integer or "auto", and a file ending in blank lines validates.
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from 'mistralai-ft';
import OpenAI from 'openai';
import { completionJob } from '../helpers/jobs.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart');
let server: TestServer;
let mistral: Mistral;
let openai: OpenAI;
let train: string;
let bad: string;

before(async () => {
  server = await startTestServer();
  mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
  const lines = (await readFile(path.join(example, 'train.jsonl'), 'utf8')).trim().split('\n');
  const trailing = path.join(server.dataDir, 'trailing.jsonl');
  await writeFile(trailing, `${lines.join('\n')}\n\n\n`); // an editor's blank lines at the end
  train = (await mistral.files.upload({ file: { fileName: 'trailing.jsonl', content: await openAsBlob(trailing) } })).id;
  const badPath = path.join(server.dataDir, 'bad.jsonl');
  await writeFile(badPath, `${lines[0]}\n{"messages": [{"role": "user", "content": "no answer"}]}\n`);
  bad = (await mistral.files.upload({ file: { fileName: 'bad.jsonl', content: await openAsBlob(badPath) } })).id;
});

after(async () => {
  await server?.close();
});

async function postJob(body: unknown, query = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/v1/fine_tuning/jobs${query}`, {
    method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('dry_run', () => {
  it('answers job.metadata with the estimate and creates no job', async () => {
    const body = { model: 'tiny-mistral', training_files: [{ file_id: train, weight: 1 }], hyperparameters: { training_steps: 10, learning_rate: 0.0001 } };
    const r = await postJob(body, '?dry_run=true');
    assert.equal(r.status, 200);
    const m = r.json;
    assert.equal(m.object, 'job.metadata');
    assert.equal(m.training_steps, 10);
    for (const k of ['train_tokens', 'data_tokens', 'train_tokens_per_step', 'expected_duration_seconds'] as const) assert.ok(Number.isInteger(m[k]) && (m[k] as number) > 0, `${k}: ${String(m[k])}`);
    // Exact: the trainer's packing replayed on the data, at most the capacity of 10 steps.
    assert.ok((m.train_tokens as number) <= (m.train_tokens_per_step as number) * 10, String(m.train_tokens));
    assert.equal(typeof m.details, 'string');
    assert.equal((await mistral.fineTuning.jobs.list()).total, 0);
    const openaiDry = await postJob({ model: 'tiny-mistral', training_file: train, hyperparameters: { n_epochs: 2 } }, '?dry_run=true');
    assert.equal(openaiDry.json.object, 'job.metadata');
    assert.ok((openaiDry.json.epochs as number) >= 2);
    assert.equal((await mistral.fineTuning.jobs.list()).total, 0);
  });

  it('refuses invalid data and unknown files without creating anything', async () => {
    const invalid = await postJob({ model: 'tiny-mistral', training_files: [{ file_id: bad, weight: 1 }], hyperparameters: {} }, '?dry_run=true');
    assert.equal(invalid.status, 400);
    assert.match(String(invalid.json.message), /line 2/);
    const missing = await postJob({ model: 'tiny-mistral', training_files: [{ file_id: 'nope', weight: 1 }], hyperparameters: {} }, '?dry_run=true');
    assert.equal(missing.status, 404);
    assert.equal((await mistral.fineTuning.jobs.list()).total, 0);
  });
});

describe('spec bounds and n_epochs', () => {
  it('refuses suffix over 18 characters, seq_len under 100 and learning_rate over 1 (422, through mistralai-ft)', async () => {
    const base = { model: 'tiny-mistral', trainingFiles: [{ fileId: train, weight: 1 }], autoStart: false };
    const refused = (e: unknown) => (e as { statusCode?: number }).statusCode === 422;
    await assert.rejects(mistral.fineTuning.jobs.create({ ...base, suffix: 'x'.repeat(19), hyperparameters: { trainingSteps: 2 } }), refused);
    await assert.rejects(mistral.fineTuning.jobs.create({ ...base, hyperparameters: { trainingSteps: 2, seqLen: 99 } }), refused);
    await assert.rejects(mistral.fineTuning.jobs.create({ ...base, hyperparameters: { trainingSteps: 2, learningRate: 1.5 } }), refused);
    const ok = completionJob(await mistral.fineTuning.jobs.create({ ...base, suffix: 'x'.repeat(18), hyperparameters: { trainingSteps: 2, seqLen: 100, learningRate: 1 } }));
    assert.equal(ok.suffix, 'x'.repeat(18));
    assert.equal(ok.hyperparameters.seqLen, 100);
    const done = await until(async () => completionJob(await mistral.fineTuning.jobs.get({ jobId: ok.id })), (j) => j.status !== 'QUEUED' && j.status !== 'STARTED' && j.status !== 'VALIDATING', 'validation', 30_000, 100);
    assert.equal(done.status, 'VALIDATED', 'a file ending in blank lines validates');
    await mistral.fineTuning.jobs.cancel({ jobId: ok.id });
  });

  it('reports n_epochs as an integer or "auto" and refuses a fractional one', async () => {
    await assert.rejects(openai.fineTuning.jobs.create({ model: 'tiny-mistral', training_file: train, hyperparameters: { n_epochs: 2.5 } }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 422);
    const job = await openai.fineTuning.jobs.create({ model: 'tiny-mistral', training_file: train, suffix: 'auto-epochs' });
    assert.ok(job.hyperparameters.n_epochs === 'auto' || Number.isInteger(job.hyperparameters.n_epochs));
    const validated = await until(() => openai.fineTuning.jobs.retrieve(job.id), (j) => j.status !== 'validating_files', 'validation', 30_000, 100);
    assert.equal(validated.status, 'queued');
    const n = validated.hyperparameters.n_epochs;
    assert.ok(Number.isInteger(n) && (n as number) >= 1, `n_epochs ${String(n)}`);
    const precise = completionJob(await mistral.fineTuning.jobs.get({ jobId: job.id })).hyperparameters.epochs ?? 0;
    assert.equal(n, Math.max(1, Math.round(precise)), 'the rounded value of the precise epochs the Mistral dialect reports');
    await openai.fineTuning.jobs.cancel(job.id);
  });
});
