/**
 * `atelier quickstart`: the main job in one command. Starts `atelier serve` with the embedded
 * defaults, then walks the seed workflow over HTTP exactly as an SDK user would: upload the bundled
 * dataset, create a job with auto_start false, show the estimate, start it with a live progress
 * bar, and compare the base model's answers with the fine-tuned model's. The server keeps running
 * afterwards (Ctrl-C stops it) unless --once is given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createProgressBar, formatDuration } from '../progress.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const exampleDir = path.join(root, 'examples', 'quickstart');

/** What the bundled example needs to be learnt by tiny-mistral in well under a minute of CPU. */
const recipe = {
  model: 'tiny-mistral',
  suffix: 'pirate',
  hyperparameters: { training_steps: 200, learning_rate: 0.003, weight_decay: 0, seq_len: 256 },
  /** Lines of train.jsonl whose conversations are replayed (without the answer) to both models. */
  compareLines: [0, 4, 7],
};

const flagsSchema = z.object({
  once: z.boolean().default(false),
  port: z.coerce.number().int().min(0).max(65535).default(0),
  'data-dir': z.string().default(path.join('.atelier', 'quickstart')),
  help: z.boolean().default(false),
});

const usage = `usage: atelier quickstart [--once] [--port P] [--data-dir D]

Starts Atelier, fine-tunes the built-in tiny-mistral model on examples/quickstart and compares its
answers with the base model's. --once stops the server after the comparison.`;

const jobSchema = z.object({
  id: z.string(),
  status: z.string(),
  fine_tuned_model: z.string().nullish(),
  metadata: z
    .object({
      data_tokens: z.number().nullish(),
      train_tokens: z.number().nullish(),
      train_tokens_per_step: z.number().nullish(),
      epochs: z.number().nullish(),
      expected_duration_seconds: z.number().nullish(),
      cost: z.number().nullish(),
      cost_currency: z.string().nullish(),
    })
    .nullish(),
  hyperparameters: z.object({ training_steps: z.number().nullish() }).passthrough(),
  events: z.array(z.object({ name: z.string(), data: z.unknown(), created_at: z.number() })).optional(),
});
type Job = z.infer<typeof jobSchema>;

const metricsEventSchema = z.object({
  data: z.array(
    z.object({
      type: z.string().optional(),
      message: z.string(),
      data: z.record(z.string(), z.unknown()).nullish(),
    }),
  ),
});

const chatSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullish() }) })),
});

type Client = {
  get(p: string): Promise<unknown>;
  post(p: string, body?: unknown): Promise<unknown>;
  upload(filePath: string, purpose: string): Promise<{ id: string }>;
};

function createClient(baseUrl: string, key: string): Client {
  const headers = { authorization: `Bearer ${key}`, 'user-agent': 'atelier-quickstart' };
  async function send(p: string, init: RequestInit): Promise<unknown> {
    const res = await fetch(`${baseUrl}${p}`, { ...init, headers: { ...headers, ...init.headers } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${init.method ?? 'GET'} ${p} answered ${res.status}: ${text}`);
    return JSON.parse(text) as unknown;
  }
  return {
    get: (p) => send(p, { method: 'GET' }),
    post: (p, body) =>
      send(p, body === undefined ? { method: 'POST' } : {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      }),
    async upload(filePath, purpose) {
      const form = new FormData();
      form.set('purpose', purpose);
      form.set('file', new Blob([await readFile(filePath)]), path.basename(filePath));
      return z.object({ id: z.string() }).parse(await send('/v1/files', { method: 'POST', body: form }));
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function startServer(port: number, dataDir: string, key: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'atelier.js'), 'serve', '--port', String(port),
    '--data-dir', dataDir, '--api-key', key], { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`atelier serve exited with code ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGTERM');
  throw new Error('atelier serve did not become healthy within 120 s');
}

async function waitForStatus(client: Client, jobId: string, wanted: string[], onPoll?: (job: Job) => Promise<void>): Promise<Job> {
  for (;;) {
    const job = jobSchema.parse(await client.get(`/v1/fine_tuning/jobs/${jobId}`));
    if (onPoll) await onPoll(job);
    if (wanted.includes(job.status)) return job;
    if (['FAILED', 'FAILED_VALIDATION', 'CANCELLED'].includes(job.status)) {
      const reason = job.events?.find((e) => e.data && typeof e.data === 'object' && 'error' in e.data);
      throw new Error(`job ${jobId} ended ${job.status}${reason ? `: ${JSON.stringify(reason.data)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function printEstimate(job: Job): void {
  const m = job.metadata ?? {};
  console.log('\nEstimate (from the real token counts of the validated files):');
  console.log(`  data tokens           ${m.data_tokens ?? '?'}`);
  console.log(`  train tokens per step ${m.train_tokens_per_step ?? '?'}`);
  console.log(`  train tokens          ${m.train_tokens ?? '?'}  (${m.epochs?.toFixed(1) ?? '?'} epochs)`);
  console.log(`  expected duration     ${formatDuration(m.expected_duration_seconds ?? Number.NaN)}`);
  console.log(`  cost                  ${m.cost ?? '?'} ${m.cost_currency ?? ''}\n`);
}

/** Latest training metrics, from the OpenAI-style events stream of the job. */
async function latestMetrics(client: Client, jobId: string): Promise<Record<string, unknown> | undefined> {
  const page = metricsEventSchema.parse(await client.get(`/v1/fine_tuning/jobs/${jobId}/events?limit=20`));
  return page.data.find((e) => e.type === 'metrics' && e.data)?.data ?? undefined;
}

async function trainWithProgress(client: Client, jobId: string, totalSteps: number): Promise<Job> {
  const bar = createProgressBar('training', process.stdout, 3000);
  const started = Date.now();
  const job = await waitForStatus(client, jobId, ['SUCCESS'], async () => {
    const m = await latestMetrics(client, jobId);
    if (!m || typeof m.step !== 'number') return;
    const elapsed = (Date.now() - started) / 1000;
    const eta = m.step > 0 ? (elapsed / m.step) * (totalSteps - m.step) : Number.NaN;
    bar.update(m.step, totalSteps, {
      loss: typeof m.train_loss === 'number' ? m.train_loss.toFixed(3) : '?',
      'tok/s': typeof m.tokens_per_s === 'number' ? String(Math.round(m.tokens_per_s)) : '?',
      eta: formatDuration(eta),
    });
  });
  bar.finish(`trained in ${formatDuration((Date.now() - started) / 1000)}`);
  return job;
}

const exampleLineSchema = z.object({
  messages: z.array(z.object({ role: z.string(), content: z.string() })),
});
type Message = z.infer<typeof exampleLineSchema>['messages'][number];

async function answer(client: Client, model: string, messages: Message[]): Promise<string> {
  const reply = chatSchema.parse(await client.post('/v1/chat/completions', {
    model, messages, temperature: 0, max_tokens: 24,
  }));
  return (reply.choices[0]?.message.content ?? '').replace(/\s+/g, ' ').trim();
}

async function compare(client: Client, fineTuned: string): Promise<void> {
  console.log('\nBase model vs fine-tuned model (greedy), on conversations from the training file:');
  const lines = (await readFile(path.join(exampleDir, 'train.jsonl'), 'utf8')).split('\n');
  for (const index of recipe.compareLines) {
    const messages = exampleLineSchema.parse(JSON.parse(lines[index] ?? '')).messages;
    const prompt = messages.slice(0, -1);
    const [base, tuned] = await Promise.all([answer(client, recipe.model, prompt), answer(client, fineTuned, prompt)]);
    console.log(`\n  Q: ${prompt.at(-1)?.content}${prompt[0]?.role === 'system' ? '  (with the system prompt)' : ''}`);
    console.log(`  ${recipe.model.padEnd(14)} ${JSON.stringify(base.slice(0, 80))}`);
    console.log(`  ${'fine-tuned'.padEnd(14)} ${JSON.stringify(tuned)}`);
    console.log(`  ${'trained answer'.padEnd(14)} ${JSON.stringify(messages.at(-1)?.content)}`);
  }
}

function printPointers(baseUrl: string, key: string, model: string): void {
  console.log(`
Atelier is running at ${baseUrl} (Ctrl-C to stop). Point the SDKs at it:
  Mistral:  new Mistral({ apiKey: '${key}', serverURL: '${baseUrl}' })
  OpenAI:   new OpenAI({ apiKey: '${key}', baseURL: '${baseUrl}/v1' })
  curl ${baseUrl}/v1/chat/completions -H 'authorization: Bearer ${key}' -H 'content-type: application/json' \\
    -d '{"model":"${model}","messages":[{"role":"user","content":"What is the capital of Peru?"}]}'`);
}

async function runWorkflow(client: Client, baseUrl: string): Promise<string> {
  const train = await client.upload(path.join(exampleDir, 'train.jsonl'), 'fine-tune');
  const valid = await client.upload(path.join(exampleDir, 'valid.jsonl'), 'fine-tune');
  console.log(`uploaded ${train.id} (train) and ${valid.id} (validation) to ${baseUrl}`);
  const created = jobSchema.parse(await client.post('/v1/fine_tuning/jobs', {
    model: recipe.model,
    training_files: [{ file_id: train.id, weight: 1 }],
    validation_files: [valid.id],
    suffix: recipe.suffix,
    auto_start: false,
    invalid_sample_skip_percentage: 0,
    hyperparameters: recipe.hyperparameters,
  }));
  console.log(`created job ${created.id} (auto_start false); validating…`);
  const validated = await waitForStatus(client, created.id, ['VALIDATED']);
  printEstimate(validated);
  await client.post(`/v1/fine_tuning/jobs/${created.id}/start`);
  const done = await trainWithProgress(client, created.id, recipe.hyperparameters.training_steps);
  if (!done.fine_tuned_model) throw new Error(`job ${done.id} succeeded without a fine_tuned_model`);
  console.log(`fine-tuned model: ${done.fine_tuned_model}`);
  await compare(client, done.fine_tuned_model);
  return done.fine_tuned_model;
}

/** Runs the quickstart; resolves to the exit code. */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: {
    once: { type: 'boolean' }, port: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  } });
  const flags = flagsSchema.parse(values);
  if (flags.help) {
    console.log(usage);
    return 0;
  }
  const port = flags.port || (await freePort());
  const key = `qs-${randomBytes(12).toString('hex')}`;
  const baseUrl = `http://127.0.0.1:${port}`;
  const server = await startServer(port, flags['data-dir'], key);
  const stop = () => server.kill('SIGTERM');
  try {
    const model = await runWorkflow(createClient(baseUrl, key), baseUrl);
    if (flags.once) return 0;
    printPointers(baseUrl, key, model);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await new Promise((resolve) => server.once('exit', resolve));
    return 0;
  } catch (err) {
    console.error(`quickstart failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    if (server.exitCode === null) {
      stop();
      await new Promise((resolve) => server.once('exit', resolve));
    }
  }
}
