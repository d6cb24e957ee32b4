// Base models as users have them, through the public interface: a Hugging Face repo id listed in
// the baseModels setting (ATELIER_BASE_MODELS / --base-model) is found in a hub cache (a real HF
// layout export of tiny-mistral with sharded safetensors, symlinked blobs and refs/main), shown
// in /v1/models under that id with its repo id, accepted as a job's model, trained on by the
// worker (the trainer loads the HF shards), and its fine-tuned model keeps the id as its root.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as MistralV1 } from 'mistralai-v1';
import OpenAI from 'openai';
import { fineTuneModel } from '../helpers/jobs.ts';
import { fakeRevision, writeFakeHubModel } from '../helpers/hub-cache.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { builtInModelIds } from '../../src/models/index.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';

const repoId = 'test-org/tiny-mistral-hf';
let cache: string;
let server: TestServer;
let worker: RunningWorker;

before(async () => {
  cache = await mkdtemp(path.join(os.tmpdir(), 'atelier-hub-'));
  await writeFakeHubModel(cache, repoId);
  server = await startTestServer({ settings: { baseModels: repoId, hfHubCache: cache, workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1, servingMaxSeqLen: 256 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
});

after(async () => {
  await worker?.stop();
  await server?.close();
  await rm(cache, { recursive: true, force: true });
});

async function get(route: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${route}`, { headers: { authorization: `Bearer ${server.key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('a base model from the Hugging Face hub cache', () => {
  it('is listed under its repo id, with the repo id as metadata, beside tiny-mistral', async () => {
    const { status, body } = await get('/v1/models');
    assert.equal(status, 200);
    const cards = body.data as { id: string; type: string; hf_repo_id?: string }[];
    assert.deepEqual(cards.filter((c) => c.type === 'base').map((c) => c.id), [...builtInModelIds(), repoId]);
    assert.equal(cards.find((c) => c.id === repoId)?.hf_repo_id, repoId);
    assert.equal(cards.find((c) => c.id === 'tiny-mistral')?.hf_repo_id, undefined);
    // the slash travels percent-encoded in a path, as the SDKs send it
    const one = await get(`/v1/models/${encodeURIComponent(repoId)}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.id, repoId);
    const strict = new MistralV1({ serverURL: server.url, apiKey: server.key });
    assert.equal((await strict.models.retrieve({ modelId: repoId })).id, repoId);
  });

  it('is accepted as a job model, trained on by the worker, and is the root of the fine-tuned model', async () => {
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'Where is the cache?' }, { role: 'assistant', content: `In snapshots/${fakeRevision.slice(0, 8)}.` }] });
    const modelId = await fineTuneModel(server, { model: repoId, fileName: 'hub.jsonl', lines: Array(4).fill(line), hyperparameters: { trainingSteps: 3, learningRate: 0.001, seqLen: 100 } });
    assert.match(modelId, /^ft:test-org\/tiny-mistral-hf:[0-9a-f]{8}:\d{8}:[0-9a-f]{8}$/);
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    const card = (await mistral.models.retrieve({ modelId })) as { root?: string; type?: string };
    assert.equal(card.type, 'fine-tuned');
    assert.equal(card.root, repoId);
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    assert.equal((await openai.models.retrieve(modelId)).id, modelId);
    const reply = await openai.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'Where is the cache?' }], max_tokens: 3, temperature: 0 });
    assert.equal(reply.model, modelId);
    assert.ok(reply.choices[0].message.content !== null);
  });

  it('refuses an unknown model with the list that includes the repo id', async () => {
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] });
    const file = await mistral.files.upload({ file: { fileName: 'one.jsonl', content: new Blob([`${line}\n`]) } });
    const res = await fetch(`${server.url}/v1/fine_tuning/jobs`, {
      method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-org/absent', training_files: [{ file_id: file.id, weight: 1 }] }),
    });
    const body = (await res.json()) as { message: string; param: string };
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.param, 'model');
    assert.equal(body.message, `Unknown base model 'test-org/absent'; available: ${[...builtInModelIds(), repoId].join(', ')}.`);
  });
});
