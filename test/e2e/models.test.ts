// A fine-tuned model end to end through the public path (upload, job, embedded worker) and the
// official SDKs: greedy chat reproduces the trained answer, its stream concatenates to the same
// text, then the models lifecycle (retrieve, update, archive, adapter download, delete → 404).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as MistralV1 } from 'mistralai-v1';
import OpenAI from 'openai';
import { fineTuneModel } from '../helpers/jobs.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';

const question = 'Who guards the harbour?';
const answer = 'The old lighthouse keeper.';
let server: TestServer;
let worker: RunningWorker;
let modelId: string;

before(async () => {
  server = await startTestServer({ settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1, servingMaxSeqLen: 256 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  const line = JSON.stringify({ messages: [{ role: 'user', content: question }, { role: 'assistant', content: answer }] });
  modelId = await fineTuneModel(server, { fileName: 'train.jsonl', lines: Array(8).fill(line), hyperparameters: { trainingSteps: 40, learningRate: 0.003, seqLen: 100 } });
});

after(async () => {
  await worker?.stop();
  await server?.close();
});

describe('a fine-tuned model', () => {
  it('reproduces the trained answer greedily, streamed and not, in every SDK', async () => {
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    const messages = [{ role: 'user' as const, content: question }];
    const r = await mistral.chat.complete({ model: modelId, messages, temperature: 0, maxTokens: 20 });
    assert.equal(r.choices[0].message?.content, answer);
    assert.equal(r.choices[0].finishReason, 'stop');
    let streamed = '';
    for await (const ev of await mistral.chat.stream({ model: modelId, messages, temperature: 0, maxTokens: 20 })) {
      streamed += (ev.data.choices[0]?.delta.content as string | undefined) ?? '';
    }
    assert.equal(streamed, answer);
    const strict = new MistralV1({ serverURL: server.url, apiKey: server.key });
    assert.equal((await strict.chat.complete({ model: modelId, messages, temperature: 0 })).choices?.[0].message.content, answer);
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    assert.equal((await openai.chat.completions.create({ model: modelId, messages, temperature: 0 })).choices[0].message.content, answer);
  });

  it('goes through the models lifecycle: card, update, archive, adapter, delete', async () => {
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    const strict = new MistralV1({ serverURL: server.url, apiKey: server.key });
    const card = (await strict.models.retrieve({ modelId })) as { type: string; root?: string; job?: string; archived?: boolean };
    assert.equal(card.type, 'fine-tuned');
    assert.equal(card.root, 'tiny-mistral');
    assert.equal(card.archived, false);
    const updated = (await mistral.models.update({ modelId, updateModelRequest: { name: 'keeper', description: 'harbour facts' } })) as { name?: string; modelType?: string };
    assert.equal(updated.modelType, 'completion');
    assert.equal(updated.name, 'keeper');
    assert.equal((await mistral.models.archive({ modelId })).archived, true);
    const listed = (await strict.models.list()).data?.find((m) => m.id === modelId) as { archived?: boolean } | undefined;
    assert.equal(listed?.archived, true);
    assert.equal((await mistral.models.unarchive({ modelId })).archived, false);
    const tar = await fetch(`${server.url}/v1/fine_tuning/models/${encodeURIComponent(modelId)}/adapter`, { headers: { authorization: `Bearer ${server.key}` } });
    assert.equal(tar.status, 200);
    const body = Buffer.from(await tar.arrayBuffer());
    assert.ok(body.includes('adapter_config.json') && body.includes('lora.safetensors'));
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    assert.equal((await openai.models.delete(modelId)).deleted, true);
    await assert.rejects(openai.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: question }] }), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });
});
