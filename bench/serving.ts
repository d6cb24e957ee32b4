/**
 * Serving benchmark: generation tokens/s and time to first token (TTFT) for tiny-mistral through a
 * live Atelier server (streaming chat completions over HTTP, greedy), the same through the engine
 * process directly (no HTTP, no TypeScript decoding), a fine-tuned adapter versus the base model,
 * many concurrent streams (aggregate tokens/s, p50/p95 TTFT), and, side by side, HF transformers'
 * `generate` on the same weights (bench/serving_hf.py).
 *
 *   node --import tsx bench/serving.ts [--new-tokens 128] [--threads 2] [--out bench/results/serving.json]
 *
 * The adapter is trained here through the jobs API (a few steps: throughput does not depend on
 * what it learnt). Greedy replies of a random base model rarely end early, but a stream that hits
 * </s> is counted with the tokens it really made (each figure says how many).
 */
import { execFileSync } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Mistral as MistralFt } from 'mistralai-ft';
import { z } from 'zod';
import { startTestServer, type TestServer } from '../test/helpers/server.ts';
import { Engine } from '../src/serving/index.ts';
import { loadTokenizer, type Tokenizer } from '../src/tokenizer/index.ts';
import { findModel, repoRoot, resolveBaseModel, resolvePython } from '../src/models/index.ts';
import { startWorker } from '../src/worker/index.ts';

const args = parseArgs({
  options: {
    'new-tokens': { type: 'string', default: '128' },
    threads: { type: 'string', default: String(Math.min(os.cpus().length, 2)) },
    out: { type: 'string', default: path.join(repoRoot, 'bench', 'results', 'serving.json') },
  },
}).values;
const NEW_TOKENS = z.coerce.number().int().min(2).max(400).parse(args['new-tokens']);
const THREADS = z.coerce.number().int().min(1).parse(args.threads);
const CONCURRENCY = [1, 8, 32];
const SINGLE_RUNS = 3;
const BASE = 'tiny-mistral';
const TOPICS = ['the sea', 'a lighthouse', 'winter', 'a train', 'the moon', 'a garden', 'a market', 'the mountains'];
const promptText = (i: number) => `Write a long story about ${TOPICS[i % TOPICS.length]}.`;

type StreamTiming = { ttft_s: number; total_s: number; tokens: number };

/** One streamed chat completion over HTTP; TTFT is the first chunk that carries text. */
async function streamChat(server: TestServer, model: string, content: string): Promise<StreamTiming> {
  const t0 = performance.now();
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], temperature: 0, max_tokens: NEW_TOKENS, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok || !res.body) throw new Error(`chat answered ${res.status}: ${await res.text()}`);
  let first = 0;
  let tokens = 0;
  let buf = '';
  const chunk = z.object({
    choices: z.array(z.object({ delta: z.object({ content: z.string().nullish() }) })),
    usage: z.object({ completion_tokens: z.number() }).nullish(),
  });
  for await (const part of res.body.pipeThrough(new TextDecoderStream())) {
    buf += part;
    let nl: number;
    while ((nl = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const c = chunk.parse(JSON.parse(event.slice(6)));
      if (!first && c.choices[0]?.delta.content) first = performance.now();
      if (c.usage) tokens = c.usage.completion_tokens;
    }
  }
  const end = performance.now();
  return { ttft_s: ((first || end) - t0) / 1000, total_s: (end - t0) / 1000, tokens };
}

/** One generate straight to the engine process (the JSON-lines protocol, token ids in and out). */
function engineGenerate(engine: Engine, adapter: string | null, prompt: number[], eos: number): Promise<StreamTiming> {
  const t0 = performance.now();
  let first = 0;
  let tokens = 0;
  return new Promise((resolve, reject) => {
    engine.generate({ adapter, prompt, max_tokens: NEW_TOKENS, temperature: 0, top_p: 1, seed: null, stop: [eos], n: 1 }, (e) => {
      if (e.type === 'error') return reject(new Error(e.message));
      if (e.type === 'token') {
        tokens++;
        if (!first) first = performance.now();
        return;
      }
      const end = performance.now();
      resolve({ ttft_s: ((first || end) - t0) / 1000, total_s: (end - t0) / 1000, tokens });
    });
  });
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Sequential single streams: median TTFT, per-stream tokens/s and decode tokens/s (after the first token). */
async function single(run: (i: number) => Promise<StreamTiming>): Promise<Record<string, number>> {
  const runs: StreamTiming[] = [];
  for (let i = 0; i < SINGLE_RUNS; i++) runs.push(await run(i));
  const median = (f: (t: StreamTiming) => number) => quantile(runs.map(f), 0.5);
  return {
    runs: runs.length,
    tokens_per_stream: median((t) => t.tokens),
    ttft_s_median: r3(median((t) => t.ttft_s)),
    tokens_per_s_median: r1(median((t) => t.tokens / t.total_s)),
    decode_tokens_per_s_median: r1(median((t) => (t.tokens - 1) / (t.total_s - t.ttft_s))),
  };
}

/** `n` streams started together: aggregate tokens/s over the wall time, TTFT percentiles. */
async function concurrent(n: number, run: (i: number) => Promise<StreamTiming>): Promise<Record<string, number>> {
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: n }, (_, i) => run(i)));
  const wall = (performance.now() - t0) / 1000;
  const tokens = all.reduce((s, t) => s + t.tokens, 0);
  const ttft = all.map((t) => t.ttft_s);
  return {
    streams: n,
    tokens,
    wall_s: r3(wall),
    aggregate_tokens_per_s: r1(tokens / wall),
    ttft_s_p50: r3(quantile(ttft, 0.5)),
    ttft_s_p95: r3(quantile(ttft, 0.95)),
    per_stream_tokens_per_s_median: r1(quantile(all.map((t) => t.tokens / t.total_s), 0.5)),
  };
}

/** Fine-tunes a throwaway adapter through the jobs API and the embedded worker; returns the model id. */
async function trainAdapter(server: TestServer): Promise<string> {
  const worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  try {
    const ft = new MistralFt({ serverURL: server.url, apiKey: server.key });
    const file = path.join(server.dataDir, 'stories.jsonl');
    const lines = TOPICS.map((t, i) => JSON.stringify({ messages: [{ role: 'user', content: promptText(i) }, { role: 'assistant', content: `Once upon a time there was ${t}, and it was quiet for a long while.` }] }));
    await writeFile(file, `${lines.join('\n')}\n`);
    const uploaded = await ft.files.upload({ file: { fileName: 'stories.jsonl', content: await openAsBlob(file) } });
    const job = (await ft.fineTuning.jobs.create({
      model: BASE, trainingFiles: [{ fileId: uploaded.id, weight: 1 }], autoStart: true,
      hyperparameters: { trainingSteps: 10, learningRate: 0.0001, seqLen: 128 },
    })) as { id: string };
    const deadline = Date.now() + 180_000;
    for (;;) {
      const j = (await ft.fineTuning.jobs.get({ jobId: job.id })) as { status: string; fineTunedModel?: string | null };
      if (j.status === 'SUCCESS' && j.fineTunedModel) return j.fineTunedModel;
      if (['FAILED', 'FAILED_VALIDATION', 'CANCELLED'].includes(j.status) || Date.now() > deadline) throw new Error(`adapter job ended ${j.status}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await worker.stop();
  }
}

async function adapterDirOf(server: TestServer, modelId: string): Promise<string> {
  const ctx = server.running.context;
  const found = await findModel(ctx.store.db, ctx.settings, server.workspaceId, modelId);
  if (found?.kind !== 'fine-tuned') throw new Error(`${modelId} is not a fine-tuned model`);
  return found.model.adapterDir;
}

function runHf(modelDir: string, prompts: number[][], adapterDir: string, dir: string): Promise<unknown> {
  const file = path.join(dir, 'prompts.json');
  return writeFile(file, JSON.stringify({ prompts })).then(() => {
    const out = execFileSync(resolvePython(''), [
      path.join(repoRoot, 'bench', 'serving_hf.py'), '--model-dir', modelDir, '--prompts', file, '--new-tokens', String(NEW_TOKENS),
      '--batches', CONCURRENCY.join(','), '--repeats', String(SINGLE_RUNS), '--adapter', adapterDir, '--threads', String(THREADS),
    ], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    return JSON.parse(out) as unknown;
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const load: { start: number[]; end?: number[] } = { start: os.loadavg().map(r1) };
  const log = (msg: string) => process.stderr.write(`[bench] ${((performance.now() - started) / 1000).toFixed(1)}s ${msg}\n`);
  const server = await startTestServer({
    settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: THREADS, servingMaxSeqLen: 512, servingMaxBatch: 32, device: 'cpu' },
  });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'atelier-bench-serving-'));
  let engine: Engine | null = null;
  try {
    log('training a throwaway adapter through the jobs API');
    const ftModel = await trainAdapter(server);
    const adapterDir = await adapterDirOf(server, ftModel);
    const base = await resolveBaseModel(BASE, { ...server.running.context.settings, python: '' });
    const tok: Tokenizer = await loadTokenizer(base.tokenizerPath);
    const prompts = TOPICS.map((_, i) => tok.encodeChat({ messages: [{ role: 'user', content: promptText(i) }] }, { mode: 'serve' }).tokens);

    log('HTTP: warm-up, single streams');
    await streamChat(server, BASE, promptText(0));
    await streamChat(server, ftModel, promptText(0));
    const http = {
      base_single: await single((i) => streamChat(server, BASE, promptText(i))),
      adapter_single: await single((i) => streamChat(server, ftModel, promptText(i))),
      base_concurrent: [] as Record<string, number>[],
      adapter_concurrent: [] as Record<string, number>[],
      mixed_32: {} as Record<string, number>,
    };
    for (const n of CONCURRENCY) {
      log(`HTTP: ${n} concurrent streams`);
      http.base_concurrent.push(await concurrent(n, (i) => streamChat(server, BASE, promptText(i))));
      http.adapter_concurrent.push(await concurrent(n, (i) => streamChat(server, ftModel, promptText(i))));
    }
    log('HTTP: 32 concurrent streams, half base, half adapter');
    http.mixed_32 = await concurrent(32, (i) => streamChat(server, i % 2 ? ftModel : BASE, promptText(i)));

    // The server's engine stays up but idle (it uses no CPU while nothing is in flight).
    log('engine process directly');
    engine = new Engine({ python: resolvePython(''), cwd: repoRoot, modelDir: base.dir, device: 'cpu', maxAdapters: 8, maxBatch: 32, maxSeqLen: 512, threads: THREADS });
    const eos = tok.special.eos;
    await engineGenerate(engine, null, prompts[0], eos);
    await engineGenerate(engine, adapterDir, prompts[0], eos);
    const direct = {
      base_single: await single((i) => engineGenerate(engine as Engine, null, prompts[i % prompts.length], eos)),
      adapter_single: await single((i) => engineGenerate(engine as Engine, adapterDir, prompts[i % prompts.length], eos)),
      base_concurrent: [] as Record<string, number>[],
    };
    for (const n of CONCURRENCY) direct.base_concurrent.push(await concurrent(n, (i) => engineGenerate(engine as Engine, null, prompts[i % prompts.length], eos)));
    await engine.close();
    engine = null;

    log('HF transformers generate (bench/serving_hf.py)');
    const hf = await runHf(base.dir, prompts, adapterDir, tmp);
    load.end = os.loadavg().map(r1);
    const result = {
      benchmark: 'serving',
      command: `node --import tsx bench/serving.ts --new-tokens ${NEW_TOKENS} --threads ${THREADS}`,
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, load_average: load },
      model: BASE,
      new_tokens: NEW_TOKENS,
      prompt_tokens: prompts.map((p) => p.length),
      threads: THREADS,
      atelier_http: http,
      atelier_engine: direct,
      hf_transformers: hf,
      elapsed_s: r1((performance.now() - started) / 1000),
    };
    await writeFile(args.out, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${args.out}`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await engine?.close();
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
