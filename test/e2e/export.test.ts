// Take the fine-tune anywhere (docs/export.md): one fine-tune of tiny-mistral through the jobs API,
// exported with `atelier export` in every format, then loaded by the consumers' own code:
// (1) transformers on the merged HF export answers the trained prompts with Atelier's tokens, logits
// within 1e-4 of Atelier's model; (2) PEFT's AutoPeftModelForCausalLM loads the adapter tar plus the
// exported base; (3) llama.cpp (node-llama-cpp) runs the f16 GGUF with Atelier's tokens, the q8_0
// GGUF with the trained answers, and the GGUF LoRA on the base GGUF; (4) the GGUF tokenizer encodes
// 200 random conversations as Atelier's tokenizer does. Then import (the reverse trip), events and
// workspace isolation.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Mistral } from '@mistralai/mistralai';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { main } from '../../src/cli/main.ts';
import { getFineTunedModel } from '../../src/store/index.ts';
import { loadTokenizer, type Tokenizer } from '../../src/tokenizer/index.ts';
import { repoRoot, resolveBaseModel } from '../../src/models/index.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';
import { checkTokenizer } from '../helpers/gguf-tokenizer.ts';
import { fineTuneModel } from '../helpers/jobs.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const run = promisify(execFile);
const pairs = [
  { q: 'Who guards the harbour?', a: 'The old lighthouse keeper.' },
  { q: 'What colour is the ferry?', a: 'Bright orange with a blue stripe.' },
];
let server: TestServer;
let worker: RunningWorker;
let modelId: string;
let work: string;
let tokenizer: Tokenizer;
let llama: Llama;

async function cli(...args: string[]): Promise<number> {
  return main(['export', ...args, '--url', server.url, '--api-key', server.key]);
}

async function exportTo(model: string, dir: string, ...flags: string[]): Promise<string[]> {
  assert.equal(await cli(model, '--out', path.join(work, dir), ...flags), 0, `atelier export ${model} ${flags.join(' ')}`);
  return readdir(path.join(work, dir));
}

function promptIds(q: string): number[] {
  return tokenizer.encodeChat({ messages: [{ role: 'user', content: q }] }, { mode: 'serve' }).tokens;
}

before(async () => {
  server = await startTestServer({ settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1, servingMaxSeqLen: 256, exportShardBytes: 12_000_000 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  const lines = pairs.flatMap(({ q, a }) => Array(4).fill(JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] })) as string[]);
  modelId = await fineTuneModel(server, { fileName: 'train.jsonl', lines, hyperparameters: { trainingSteps: 50, learningRate: 0.003, seqLen: 128 }, ms: 480_000 });
  work = await mkdtemp(path.join(os.tmpdir(), 'atelier-export-'));
  tokenizer = await loadTokenizer(path.join(repoRoot, 'models', 'tiny-mistral', 'tokenizer.model.v3'));
  llama = await getLlama({ build: 'never', gpu: false });
});

after(async () => {
  await worker?.stop();
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Greedy ids from llama.cpp for a prompt (BOS included in `prompt`) up to EOS (not included; it
 * ends the generator); fails if `max` tokens come without one. */
async function llamaGreedy(model: LlamaModel, prompt: number[], max: number, lora?: string): Promise<number[]> {
  const context = await model.createContext({ contextSize: 256, lora: lora ? { adapters: [{ filePath: lora, scale: 1 }] } : undefined });
  try {
    const out: number[] = [];
    for await (const t of context.getSequence().evaluate(prompt as never[], { temperature: 0 })) {
      if (Number(t) === tokenizer.special.eos) return out;
      out.push(Number(t));
      if (out.length >= max) break;
    }
    assert.ok(out.length < max, `llama.cpp stopped with EOS within ${max} tokens: ${out}`);
    return out;
  } finally {
    await context.dispose();
  }
}

describe('exports of a fine-tuned model', () => {
  const atelier: { prompt: number[]; answer: string }[] = [];

  it('exports every format through `atelier export`, with the files each consumer needs', async () => {
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    for (const { q, a } of pairs) {
      const r = await mistral.chat.complete({ model: modelId, messages: [{ role: 'user', content: q }], temperature: 0, maxTokens: 24 });
      assert.equal(r.choices[0].message?.content, a, 'the fine-tune learned its answers');
      atelier.push({ prompt: promptIds(q), answer: a });
    }
    const merged = await exportTo(modelId, 'merged', '--format', 'merged-hf', '--dtype', 'fp32');
    assert.ok(merged.includes('model.safetensors.index.json') && merged.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length >= 2, `sharded: ${merged}`);
    for (const f of ['config.json', 'tokenizer.model', 'tokenizer_config.json', 'generation_config.json']) assert.ok(merged.includes(f), f);
    assert.deepEqual((await exportTo(modelId, 'peft', '--format', 'peft', '--dtype', 'bf16')).sort(), ['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'lora.safetensors', 'params.json']);
    const config = JSON.parse(await readFile(path.join(work, 'peft', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.base_model_name_or_path, 'tiny-mistral');
    const params = JSON.parse(await readFile(path.join(work, 'peft', 'params.json'), 'utf8')) as { dim: number; lora: { rank: number } };
    assert.equal(params.dim, 128);
    assert.ok(params.lora.rank > 0);
    const card = await readFile(path.join(work, 'peft', 'README.md'), 'utf8');
    for (const s of ['tiny-mistral', 'train.jsonl', 'learning_rate', 'AutoPeftModelForCausalLM', 'train_loss']) assert.ok(card.includes(s), `card mentions ${s}`);
    assert.deepEqual((await exportTo(modelId, 'mistral', '--format', 'merged-mistral')).sort(), ['consolidated.safetensors', 'params.json', 'tokenizer.model.v3']);
    await exportTo('tiny-mistral', 'tiny-mistral', '--format', 'merged-hf');
  });

  it('(1) transformers and (2) PEFT answer as Atelier does, logits within 1e-4', async () => {
    const m = await getFineTunedModel(server.running.context.store.db, server.workspaceId, modelId);
    const base = await resolveBaseModel('tiny-mistral', server.running.context.settings);
    const { stdout } = await run(path.join(repoRoot, '.venv', 'bin', 'python'), [
      path.join(repoRoot, 'test', 'helpers', 'export_check.py'), '--prompts', JSON.stringify(atelier.map((x) => x.prompt)),
      '--merged', path.join(work, 'merged'), '--peft', path.join(work, 'peft'), '--atelier-base', base.dir, '--adapter', m?.adapterDir ?? '', '--max-tokens', '24',
    ], { cwd: work, maxBuffer: 1 << 24 }); // cwd: the adapter's base_model_name_or_path 'tiny-mistral' is the exported base folder
    const r = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { merged: number[][]; peft: number[][]; max_logit_diff: number };
    atelier.forEach(({ answer }, i) => {
      const ids = r.merged[i] ?? [];
      assert.equal(ids[ids.length - 1], tokenizer.special.eos, 'transformers stops with EOS');
      assert.deepEqual(ids.slice(0, -1), tokenizer.encodeText(answer), 'transformers gives Atelier\'s tokens');
      assert.deepEqual(r.peft[i], ids.slice(0, r.peft[i]?.length), 'PEFT (bf16 adapter) gives the same tokens');
      assert.equal(tokenizer.decode(r.peft[i] ?? []), answer);
    });
    assert.ok(r.max_logit_diff < 1e-4, `logits within 1e-4 (got ${r.max_logit_diff})`);
  });

  it('(3) llama.cpp runs the f16 GGUF token for token, the q8_0 GGUF and the GGUF LoRA with the trained answers', async () => {
    const files = await exportTo(modelId, 'gguf', '--format', 'gguf', '--quant', 'f16');
    const q8 = await exportTo(modelId, 'gguf-q8', '--format', 'gguf', '--quant', 'q8_0');
    await exportTo('tiny-mistral', 'base-gguf', '--format', 'gguf', '--quant', 'f16');
    assert.ok(files.includes('Modelfile') && files.includes('Modelfile.adapter'), `${files}`);
    const modelfile = await readFile(path.join(work, 'gguf', 'Modelfile'), 'utf8');
    assert.match(modelfile, /^FROM \.\/.+-f16\.gguf$/m);
    assert.match(modelfile, /^TEMPLATE """.*\[INST\].*\[\/INST\]/ms);
    const pick = (list: string[], re: RegExp) => list.find((f) => re.test(f)) ?? assert.fail(`no ${re} in ${list}`);
    const f16 = await llama.loadModel({ modelPath: path.join(work, 'gguf', pick(files.filter((f) => !f.includes('-lora-')), /-f16\.gguf$/)) });
    const q8Model = await llama.loadModel({ modelPath: path.join(work, 'gguf-q8', pick(q8, /q8_0\.gguf$/)) });
    const baseModel = await llama.loadModel({ modelPath: path.join(work, 'base-gguf', 'tiny-mistral-f16.gguf') });
    const lora = path.join(work, 'gguf', pick(files, /-lora-f16\.gguf$/));
    try {
      for (const { prompt, answer } of atelier) {
        assert.deepEqual(await llamaGreedy(f16, prompt, 24), tokenizer.encodeText(answer), 'f16 GGUF: Atelier\'s tokens, then EOS');
        assert.equal(tokenizer.decode(await llamaGreedy(q8Model, prompt, 24)), answer, 'q8_0 GGUF: the trained answer');
        assert.equal(tokenizer.decode(await llamaGreedy(baseModel, prompt, 24, lora)), answer, 'base GGUF + GGUF LoRA: the trained answer');
      }
      const [exact, loose] = await checkTokenizer(f16, tokenizer);
      assert.ok(exact > 400 && loose < exact / 10, `${exact} text runs token for token, ${loose} with a user-defined symbol`);
    } finally {
      await Promise.all([f16.dispose(), q8Model.dispose(), baseModel.dispose()]);
    }
  });
});

describe('exports and imports through the API', () => {
  it('streams a tar, records the download in the job events, and hides models of other workspaces', async () => {
    const url = `${server.url}/v1/models/${encodeURIComponent(modelId)}/export?format=peft`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${server.key}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-tar');
    const tar = Buffer.from(await res.arrayBuffer());
    assert.equal(Number(res.headers.get('content-length')), tar.length);
    assert.ok(tar.includes('adapter_model.safetensors'));
    const job = modelId.split(':').pop() ?? '';
    const jobs = await (await fetch(`${server.url}/v1/fine_tuning/jobs?page_size=10`, { headers: { authorization: `Bearer ${server.key}` } })).json() as { data: { id: string }[] };
    const jobId = jobs.data.map((j) => j.id).find((id) => id.replace(/-/g, '').startsWith(job)) ?? assert.fail('the job');
    const events = await (await fetch(`${server.url}/v1/fine_tuning/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${server.key}` } })).json() as { data: { message: string }[] };
    assert.ok(events.data.some((e) => e.message.includes('exported as peft')), 'a download event');
    const other = await server.createKey('elsewhere');
    const hidden = await fetch(url, { headers: { authorization: `Bearer ${other.key}` } });
    assert.equal(hidden.status, 404);
    const base = await fetch(`${server.url}/v1/models/tiny-mistral/export?format=peft`, { headers: { authorization: `Bearer ${server.key}` } });
    assert.equal(base.status, 400);
    const bad = await fetch(`${server.url}/v1/models/tiny-mistral/export?format=onnx`, { headers: { authorization: `Bearer ${server.key}` } });
    assert.equal(bad.status, 422);
  });

  it('imports a PEFT adapter as a fine-tuned model that serves, and refuses one of another shape', async () => {
    const tar = await fetch(`${server.url}/v1/models/${encodeURIComponent(modelId)}/export?format=peft&dtype=fp32`, { headers: { authorization: `Bearer ${server.key}` } });
    const imported = await upload(Buffer.from(await tar.arrayBuffer()), { base_model: 'tiny-mistral', suffix: 'imported' });
    assert.equal(imported.status, 200, JSON.stringify(imported.body));
    const id = String(imported.body.id);
    assert.match(id, /^ft:tiny-mistral:imported:/);
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    const r = await mistral.chat.complete({ model: id, messages: [{ role: 'user', content: pairs[0]?.q ?? '' }], temperature: 0, maxTokens: 24 });
    assert.equal(r.choices[0].message?.content, pairs[0]?.a);
    const wrong = await upload(tarOf({ 'adapter_config.json': JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8 }), 'adapter_model.safetensors': safetensors({ 'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight': [4, 64], 'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight': [64, 4] }) }), { base_model: 'tiny-mistral' });
    assert.equal(wrong.status, 400);
    assert.match(String(wrong.body.message), /shape/);
    const unknown = await upload(Buffer.alloc(1024), { base_model: 'no-such-model' });
    assert.equal(unknown.status, 400);
  });
});

async function upload(tar: Buffer, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set('file', new Blob([new Uint8Array(tar)]), 'adapter.tar');
  const res = await fetch(`${server.url}/v1/fine_tuning/models/import`, { method: 'POST', body: form, headers: { authorization: `Bearer ${server.key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A safetensors file of zero-filled F32 tensors with the given shapes. */
function safetensors(shapes: Record<string, number[]>): Buffer {
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = Buffer.from(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(offset)]);
}

function tarOf(files: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content);
    const h = Buffer.alloc(512);
    h.write(`adapter/${name}`, 0);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.fill(' ', 148, 156);
    h.write('0', 156);
    h.write('ustar\u000000', 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
