// The served OpenAPI document against the server's own replies and against Mistral's official spec
// (issue #14). One live server with a worker: a reply of every operation is captured (both
// dialects where they differ) and validated with JSON Schema 2020-12 (Python jsonschema) against
// the served document's 200 schema (strict: it names every field), and the Mistral-dialect replies
// against the official schemas (test/fixtures/mistral-openapi, additionalProperties included).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { validateAll, withComponents, type SchemaCheck } from '../helpers/json-schema.ts';
import { until } from '../helpers/wait.ts';
import { officialPatches, loadOfficialSpec, type OpenApiDoc } from '../helpers/official-spec.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';

type Dialect = 'mistral' | 'openai';
type Capture = { method: string; path: string; dialect: Dialect; status: number; contentType: string; body: unknown };

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart');
let server: TestServer;
let worker: RunningWorker;
const captures: Capture[] = [];

/** Calls the API as a dialect's SDK would be told apart (OpenAI: x-stainless headers) and records the reply. */
async function call(method: string, template: string, params: Record<string, string>, opts: { dialect?: Dialect; body?: unknown; form?: FormData; query?: string; auth?: boolean } = {}): Promise<Capture> {
  const url = template.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(params[k] ?? ''));
  const headers: Record<string, string> = opts.auth === false ? {} : { authorization: `Bearer ${server.key}` };
  if (opts.dialect === 'openai') headers['x-stainless-lang'] = 'js';
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.url}${url}${opts.query ?? ''}`, { method: method.toUpperCase(), headers, body: opts.form ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)) });
  const contentType = res.headers.get('content-type') ?? '';
  const body = contentType.includes('json') ? await res.json() : await res.arrayBuffer();
  const c = { method, path: template, dialect: opts.dialect ?? 'mistral', status: res.status, contentType, body };
  assert.equal(res.status, 200, `${method} ${url}: ${JSON.stringify(body).slice(0, 400)}`);
  captures.push(c);
  return c;
}

const json = (c: Capture) => c.body as Record<string, unknown>;

async function upload(name: string, text: string, dialect: Dialect = 'mistral'): Promise<string> {
  const form = new FormData();
  form.append('purpose', 'fine-tune');
  form.append('file', new Blob([text]), name);
  return String(json(await call('post', '/v1/files', {}, { form, dialect })).id);
}

async function waitJob(id: string, done: (s: string) => boolean): Promise<Record<string, unknown>> {
  return until(async () => json(await call('get', '/v1/fine_tuning/jobs/{job_id}', { job_id: id })), (j) => done(String(j.status)), `job ${id}`, 180_000, 200);
}

before(async () => {
  server = await startTestServer({ settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1, servingMaxSeqLen: 256 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  await captureEveryOperation();
});

after(async () => {
  await worker?.stop();
  await server?.close();
});

async function captureEveryOperation(): Promise<void> {
  await call('get', '/health', {}, { auth: false });
  await call('get', '/v1/openapi.json', {}, { auth: false });
  const trainText = await readFile(path.join(example, 'train.jsonl'), 'utf8');
  const train = await upload('train.jsonl', trainText);
  const oaFile = await upload('train-oa.jsonl', trainText, 'openai');
  const moods = Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `day ${i} was ${i % 2 ? 'grim' : 'sunny'}`, labels: { mood: i % 2 ? 'sad' : 'happy' } })).join('\n');
  const labelled = await upload('moods.jsonl', moods);
  for (const dialect of ['mistral', 'openai'] as const) {
    await call('get', '/v1/files', {}, { dialect });
    await call('get', '/v1/files/{file_id}', { file_id: train }, { dialect });
  }
  await call('get', '/v1/files/{file_id}/content', { file_id: train });
  const signed = new URL(String(json(await call('get', '/v1/files/{file_id}/url', { file_id: train })).url));
  await call('get', '/v1/files/{file_id}/signed-content', { file_id: train }, { auth: false, query: signed.search });

  const hyper = { training_steps: 3, learning_rate: 0.001, seq_len: 128 };
  await call('post', '/v1/fine_tuning/jobs', {}, { body: { model: 'tiny-mistral', training_files: [{ file_id: train, weight: 1 }], hyperparameters: hyper }, query: '?dry_run=true' });
  const held = json(await call('post', '/v1/fine_tuning/jobs', {}, { body: { model: 'tiny-mistral', training_files: [{ file_id: train, weight: 1 }], hyperparameters: hyper, auto_start: false, suffix: 'held' } }));
  await waitJob(String(held.id), (s) => s === 'VALIDATED');
  await call('post', '/v1/fine_tuning/jobs/{job_id}/start', { job_id: String(held.id) });
  const classifier = json(await call('post', '/v1/fine_tuning/jobs', {}, {
    body: { model: 'tiny-mistral', job_type: 'classifier', training_files: [{ file_id: labelled, weight: 1 }], hyperparameters: { training_steps: 3, learning_rate: 0.001, seq_len: 100 }, classifier_targets: [{ name: 'mood', labels: ['happy', 'sad'] }] },
  }));
  const oaJob = json(await call('post', '/v1/fine_tuning/jobs', {}, { dialect: 'openai', body: { model: 'tiny-mistral', training_file: oaFile, hyperparameters: { n_epochs: 1 }, suffix: 'oa' } }));
  await call('post', '/v1/fine_tuning/jobs/{job_id}/cancel', { job_id: String(oaJob.id) }, { dialect: 'openai' }); // cancelled at once: no training time
  const spareJob = json(await call('post', '/v1/fine_tuning/jobs', {}, { body: { model: 'tiny-mistral', training_files: [{ file_id: oaFile, weight: 1 }], hyperparameters: hyper, auto_start: false } }));
  await call('post', '/v1/fine_tuning/jobs/{job_id}/cancel', { job_id: String(spareJob.id) });
  const ended = (s: string) => ['SUCCESS', 'FAILED', 'FAILED_VALIDATION', 'CANCELLED'].includes(s);
  const done = await waitJob(String(held.id), ended);
  const doneClassifier = await waitJob(String(classifier.id), ended);
  assert.equal(done.status, 'SUCCESS');
  assert.equal(doneClassifier.status, 'SUCCESS');
  await call('get', '/v1/fine_tuning/jobs/{job_id}', { job_id: String(doneClassifier.id) });
  for (const dialect of ['mistral', 'openai'] as const) {
    await call('get', '/v1/fine_tuning/jobs', {}, { dialect });
    await call('get', '/v1/fine_tuning/jobs/{job_id}', { job_id: String(held.id) }, { dialect });
  }
  await call('get', '/v1/fine_tuning/jobs/{job_id}/events', { job_id: String(held.id) }, { dialect: 'openai' });
  await call('get', '/v1/fine_tuning/jobs/{job_id}/checkpoints', { job_id: String(held.id) }, { dialect: 'openai' });
  await call('get', '/v1/fine_tuning/jobs/{job_id}/metrics', { job_id: String(held.id) });
  await call('get', '/metrics', {});
  const page = await call('get', '/', {}, { auth: false });
  const script = /\/assets\/([\w.-]+\.js)/.exec(Buffer.from(page.body as ArrayBuffer).toString('utf8'))?.[1];
  assert.ok(script, 'the console page names its script');
  await call('get', '/assets/{name}', { name: script }, { auth: false });

  const ft = String(done.fine_tuned_model);
  const ftClassifier = String(doneClassifier.fine_tuned_model);
  await call('get', '/v1/models', {});
  await call('get', '/v1/models/{model_id}', { model_id: 'tiny-mistral' });
  await call('get', '/v1/models/{model_id}', { model_id: ft });
  await call('patch', '/v1/fine_tuning/models/{model_id}', { model_id: ft }, { body: { name: 'renamed', description: 'a test model' } });
  await call('patch', '/v1/fine_tuning/models/{model_id}', { model_id: ftClassifier }, { body: { name: 'moods' } });
  await call('post', '/v1/fine_tuning/models/{model_id}/archive', { model_id: ft });
  await call('delete', '/v1/fine_tuning/models/{model_id}/archive', { model_id: ft });
  await call('get', '/v1/fine_tuning/models/{model_id}/adapter', { model_id: ft });
  await call('get', '/v1/models/{model_id}/export', { model_id: ft }, { query: '?format=peft' });

  const messages = [{ role: 'user', content: 'Hello' }];
  for (const dialect of ['mistral', 'openai'] as const) await call('post', '/v1/chat/completions', {}, { dialect, body: { model: ft, messages, max_tokens: 4, temperature: 0 } });
  await call('post', '/v1/classifications', {}, { body: { model: ftClassifier, input: ['a sunny day', 'a grim day'] } });
  await call('post', '/v1/moderations', {}, { body: { model: ftClassifier, input: 'a grim day' } });
  await call('post', '/v1/chat/classifications', {}, { body: { model: ftClassifier, input: [{ messages: [{ role: 'user', content: 'sunny' }] }] } });
  await call('post', '/v1/chat/moderations', {}, { body: { model: ftClassifier, input: [{ role: 'user', content: 'grim' }] } });

  const spare = await upload('spare.jsonl', trainText);
  await call('delete', '/v1/files/{file_id}', { file_id: spare });
  await call('delete', '/v1/models/{model_id}', { model_id: ft });
}

function servedDoc(): OpenApiDoc {
  const c = captures.find((x) => x.path === '/v1/openapi.json');
  return c?.body as OpenApiDoc;
}

/** Operations this file does not call, each with where its reply is checked instead. */
const uncaptured: Record<string, string> = {
  'post /v1/fine_tuning/models/import': 'a multipart PEFT adapter upload: test/e2e/export.test.ts imports one, serves it and checks the refusal of a wrong shape',
};

function operationOf(doc: OpenApiDoc, c: Capture) {
  return doc.paths[c.path]?.[c.method];
}

describe('the served OpenAPI document', () => {
  it('gives every operation a unique operationId and a 200 reply description', () => {
    const ids = new Set<string>();
    for (const [p, ops] of Object.entries(servedDoc().paths)) {
      for (const [m, op] of Object.entries(ops)) {
        assert.ok(op.operationId && !ids.has(op.operationId), `${m} ${p}: operationId ${String(op.operationId)}`);
        ids.add(op.operationId);
        assert.ok(op.responses?.['200'], `${m} ${p} documents its 200 reply`);
      }
    }
  });

  it('has a captured reply of every operation, each valid against the served 200 schema (no undeclared fields)', () => {
    const doc = servedDoc();
    const checks: SchemaCheck[] = [];
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const m of Object.keys(ops)) {
        if (uncaptured[`${m} ${p}`]) continue;
        assert.ok(captures.some((c) => c.path === p && c.method === m), `no captured reply of ${m} ${p}`);
      }
    }
    for (const c of captures) {
      const content = operationOf(doc, c)?.responses['200'].content ?? {};
      const declared = Object.keys(content).find((t) => c.contentType.startsWith(t));
      assert.ok(declared, `${c.method} ${c.path} answered ${c.contentType}, the document says ${Object.keys(content).join(', ')}`);
      if (c.contentType.includes('json') && c.path !== '/v1/openapi.json') {
        checks.push({ name: `${c.dialect} ${c.method} ${c.path}`, schema: content[declared].schema, instance: c.body });
      }
    }
    const failures = validateAll(checks).filter((r) => r.errors.length);
    assert.deepEqual(failures, []);
    assert.ok(checks.length >= 30, `${checks.length} replies validated`);
  });
});

describe("Mistral's official OpenAPI document", () => {
  it('validates every Mistral-dialect reply of an official operation against the official schema', async () => {
    const official = await loadOfficialSpec();
    const patched = officialPatches(official);
    const checks: SchemaCheck[] = [];
    for (const c of captures.filter((x) => x.dialect === 'mistral' && x.contentType.includes('json'))) {
      const schema = official.paths[c.path]?.[c.method]?.responses['200'].content?.['application/json']?.schema;
      if (schema) checks.push({ name: `${c.method} ${c.path}`, schema: withComponents(schema, patched.components), instance: c.body });
    }
    const covered = new Set(checks.map((c) => c.name));
    for (const [p, ops] of Object.entries(official.paths)) {
      for (const [m, op] of Object.entries(ops)) if (op.responses['200'].content?.['application/json']) assert.ok(covered.has(`${m} ${p}`), `no Mistral reply of ${m} ${p}`);
    }
    assert.deepEqual(validateAll(checks).filter((r) => r.errors.length), []);
  });

  it('flags a reply the official schema forbids (an extra message field), so the check is real', () => {
    const official = officialPatches(loadOfficialSpecSync());
    const reply = captures.find((c) => c.dialect === 'mistral' && c.path === '/v1/chat/completions')?.body as { choices: { message: Record<string, unknown> }[] };
    const bad = structuredClone(reply);
    bad.choices[0].message.refusal = null;
    const schema = official.paths['/v1/chat/completions'].post.responses['200'].content?.['application/json']?.schema;
    const [result] = validateAll([{ name: 'refusal', schema: withComponents(schema, official.components), instance: bad }]);
    assert.ok(result.errors.some((e) => /refusal/.test(e)), result.errors.join('\n'));
  });
});

let cachedSpec: OpenApiDoc | null = null;
function loadOfficialSpecSync(): OpenApiDoc {
  assert.ok(cachedSpec, 'loaded by the previous test');
  return cachedSpec;
}
before(async () => {
  cachedSpec = await loadOfficialSpec();
});
