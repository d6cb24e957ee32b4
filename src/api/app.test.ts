// In-process HTTP tests (app.inject): status codes and whole error bodies, parsers, auth,
// dialect detection, signed URLs and the OpenAPI document.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { loadSettings } from '../settings/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { buildApp } from './app.ts';
import { dialectOf } from './dialect.ts';
import { errorCodes } from './errors.ts';
import { parse } from './parse.ts';
import { createContext } from './server.ts';

const key = 'k-test';
const auth = { authorization: `Bearer ${key}` };

function errorBody(code: keyof typeof errorCodes, message: string, extra: { param?: string | null; detail?: unknown } = {}) {
  const spec = errorCodes[code];
  const param = extra.param ?? null;
  const body: Record<string, unknown> = { object: 'error', message, type: spec.type, param, code };
  if (extra.detail) body.detail = extra.detail;
  return { ...body, error: { message, type: spec.type, param, code } };
}

async function probeRoutes(app: FastifyInstance): Promise<void> {
  const params = z.object({ id: z.string() });
  const body = z.object({ n: z.int() }).optional();
  app.post('/v1/probe/:id', { config: { docs: { summary: 'probe', params, body } } }, async (request) => ({
    id: parse(params, request.params, 'path').id,
    body: parse(body, request.body, 'body') ?? null,
    dialect: dialectOf(request),
    workspace: request.workspace.id,
  }));
  app.get('/v1/boom', async () => {
    throw new Error('secret internal detail');
  });
}

function multipart(parts: { name: string; value: string | Buffer; filename?: string }[]) {
  const boundary = '----atelier-test-boundary';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const type = p.filename !== undefined ? 'Content-Type: application/octet-stream\r\n' : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`), Buffer.from(p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

describe('API app (in process)', () => {
  let dataDir: string;
  let store: Store;
  let app: FastifyInstance;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-app-'));
    store = await openStore({ dataDir });
    const settings = loadSettings({ dataDir, apiKeys: key, maxFileBytes: 1000 }, {});
    app = await buildApp(await createContext(settings, store), { extraRoutes: [probeRoutes] });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers 401 in both dialects’ shape without a key or with a wrong one', async () => {
    const message = errorCodes.invalid_api_key.message;
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic xyz' }]) {
      const res = await app.inject({ method: 'GET', url: '/v1/files', headers });
      assert.equal(res.statusCode, 401);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.deepEqual(res.json(), errorBody('invalid_api_key', message));
    }
  });

  it('serves /health and the OpenAPI document without a key', async () => {
    assert.deepEqual((await app.inject('/health')).json(), { status: 'ok' });
    const doc = (await app.inject('/v1/openapi.json')).json();
    assert.equal(doc.openapi, '3.1.0');
    const probe = doc.paths['/v1/probe/{id}'].post;
    assert.deepEqual(probe.parameters.map((p: { name: string; in: string }) => [p.name, p.in]), [['id', 'path']]);
    assert.equal(probe.requestBody.content['application/json'].schema.properties.n.type, 'integer');
    assert.ok(doc.paths['/v1/files'].post.requestBody.content['multipart/form-data']);
    assert.ok(doc.paths['/v1/files'].get.parameters.some((p: { name: string }) => p.name === 'page_size'));
  });

  it('answers 404 with the error body for an unknown route', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/nothing?x=1', headers: auth });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), errorBody('route_not_found', 'No route GET /v1/nothing.'));
  });

  it('answers 400 for malformed JSON', async () => {
    const text = '{"n": 1,';
    let reason = '';
    try {
      JSON.parse(text);
    } catch (err) {
      reason = (err as Error).message;
    }
    const res = await app.inject({ method: 'POST', url: '/v1/probe/a', headers: { ...auth, 'content-type': 'application/json' }, payload: text });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), errorBody('invalid_json', `The request body is not valid JSON: ${reason}`));
  });

  it('answers 422 with FastAPI-style detail when zod rejects a value', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/probe/a', headers: { ...auth, 'content-type': 'application/json' }, payload: { n: 1.5 } });
    assert.equal(res.statusCode, 422);
    const detail = [{ loc: ['body', 'n'], msg: 'Invalid input: expected int, received number', type: 'invalid_type' }];
    assert.deepEqual(res.json(), errorBody('validation_failed', 'Invalid body: n: Invalid input: expected int, received number', { param: 'n', detail }));
    const q = await app.inject({ method: 'GET', url: '/v1/files?page=-1', headers: auth });
    assert.equal(q.statusCode, 422);
    assert.deepEqual(q.json().detail.map((d: { loc: unknown }) => d.loc), [['query', 'page']]);
  });

  it('answers 415 for a body type it does not parse', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/probe/a', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'hi' });
    assert.equal(res.statusCode, 415);
    assert.deepEqual(res.json(), errorBody('unsupported_media_type', "Content-Type 'text/plain' is not accepted here; send application/json or multipart/form-data."));
    const json = await app.inject({ method: 'POST', url: '/v1/files', headers: { ...auth, 'content-type': 'application/json' }, payload: '{}' });
    assert.equal(json.statusCode, 415);
    assert.deepEqual(json.json(), errorBody('unsupported_media_type', "Content-Type 'application/json' is not accepted here; send multipart/form-data with a 'file' part."));
  });

  it('accepts a POST with no body and no content type, an empty JSON body and JSON with a charset', async () => {
    const bare = await app.inject({ method: 'POST', url: '/v1/probe/a', headers: auth });
    assert.equal(bare.statusCode, 200);
    assert.equal(bare.json().body, null);
    const empty = await app.inject({ method: 'POST', url: '/v1/probe/a', headers: { ...auth, 'content-type': 'application/json' }, payload: '' });
    assert.equal(empty.statusCode, 200);
    const charset = await app.inject({ method: 'POST', url: '/v1/probe/a', headers: { ...auth, 'content-type': 'application/json; charset=utf-8' }, payload: '{"n":2}' });
    assert.deepEqual(charset.json().body, { n: 2 });
  });

  it('decodes percent-encoded path ids (Mistral) and raw colons (OpenAI) alike', async () => {
    for (const url of ['/v1/probe/ft%3Atiny%3Aab12cd34%3A20260101%3A0f0f0f0f', '/v1/probe/ft:tiny:ab12cd34:20260101:0f0f0f0f']) {
      const res = await app.inject({ method: 'POST', url, headers: auth });
      assert.equal(res.json().id, 'ft:tiny:ab12cd34:20260101:0f0f0f0f');
    }
  });

  it('tells the dialects apart by headers, Mistral by default', async () => {
    const dialect = async (headers: Record<string, string>) => (await app.inject({ method: 'POST', url: '/v1/probe/a', headers: { ...auth, ...headers } })).json().dialect;
    assert.equal(await dialect({ 'x-stainless-lang': 'js' }), 'openai');
    assert.equal(await dialect({ 'user-agent': 'OpenAI/JS 7.57.0' }), 'openai');
    assert.equal(await dialect({ 'user-agent': 'mistral-client-typescript/2.7.0' }), 'mistral');
    assert.equal(await dialect({}), 'mistral');
    assert.equal(dialectOf({ headers: { 'x-stainless-lang': 'js' } }, 'mistral'), 'mistral');
  });

  it('hides an unexpected error behind a 500 with the request id', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/boom', headers: auth });
    assert.equal(res.statusCode, 500);
    const body = res.json();
    assert.match(body.message, /^Internal server error \(request id req_\w+\); the server log has the details\.$/);
    assert.deepEqual(body, errorBody('internal_error', body.message));
    assert.doesNotMatch(res.body, /secret internal detail/);
  });

  it('stores an unsafe upload name as a harmless display name, the bytes under the id', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/files', ...multipart([{ name: 'file', value: 'x\n', filename: '../../etc/pa\u0007sswd' }, { name: 'purpose', value: 'batch' }]) });
    assert.equal(res.statusCode, 200);
    const file = res.json();
    assert.deepEqual([file.filename, file.purpose, file.sample_type, file.num_lines, file.bytes], ['passwd', 'batch', 'batch_request', 1, 2]);
    assert.deepEqual(await readdir(path.join(dataDir, 'files', file.id.slice(0, 2))), [file.id]);
    const long = await app.inject({ method: 'POST', url: '/v1/files', ...multipart([{ name: 'file', value: 'y', filename: `${'a'.repeat(400)}.jsonl` }]) });
    assert.equal(long.json().filename, `${'a'.repeat(249)}.jsonl`);
  });

  it('rejects an upload over maxFileBytes with 413 and keeps no bytes', async () => {
    const blobs = async () => (await readdir(path.join(dataDir, 'files'), { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => e.name);
    const before = await blobs();
    const res = await app.inject({ method: 'POST', url: '/v1/files', ...multipart([{ name: 'file', value: Buffer.alloc(1001, 65), filename: 'big.jsonl' }]) });
    assert.equal(res.statusCode, 413);
    assert.deepEqual(res.json(), errorBody('file_too_large', 'The file is larger than 1000 bytes (setting maxFileBytes / ATELIER_MAX_FILE_BYTES).'));
    assert.deepEqual(await blobs(), before, 'no bytes (and no temp file) left behind');
    const exact = await app.inject({ method: 'POST', url: '/v1/files', ...multipart([{ name: 'file', value: Buffer.alloc(1000, 66), filename: 'edge.jsonl' }]) });
    assert.equal(exact.json().bytes, 1000);
  });

  it('answers 400 without a file part and 422 for an unknown purpose, keeping nothing', async () => {
    const none = await app.inject({ method: 'POST', url: '/v1/files', ...multipart([{ name: 'purpose', value: 'fine-tune' }]) });
    assert.equal(none.statusCode, 400);
    assert.deepEqual(none.json(), errorBody('missing_file', errorCodes.missing_file.message));
    const bad = await app.inject({ method: 'POST', url: '/v1/files', ...multipart([{ name: 'file', value: 'zzz-unique', filename: 'p.jsonl' }, { name: 'purpose', value: 'nonsense' }]) });
    assert.equal(bad.statusCode, 422);
    assert.equal(bad.json().param, 'purpose');
    const list = await app.inject({ method: 'GET', url: '/v1/files?search=p.jsonl', headers: auth });
    assert.equal(list.json().total, 0);
  });

  it('serves a signed URL without a key and rejects tampered or expired ones with 403', async () => {
    const up = await app.inject({ method: 'POST', url: '/v1/files', ...multipart([{ name: 'file', value: 'signed bytes', filename: 's.txt' }]) });
    const id = up.json().id;
    const { url } = (await app.inject({ method: 'GET', url: `/v1/files/${id}/url?expiry=2`, headers: { ...auth, host: 'atelier.test:9' } })).json();
    const u = new URL(url);
    // Not the Host header: a forged one would be signed into the URL. Not listening, so the configured address.
    assert.equal(u.origin, 'http://127.0.0.1:8000');
    assert.ok(Number(u.searchParams.get('expires')) - Date.now() / 1000 > 7190);
    const ok = await app.inject({ method: 'GET', url: u.pathname + u.search });
    assert.deepEqual([ok.statusCode, ok.headers['content-type'], ok.body], [200, 'application/octet-stream', 'signed bytes']);
    const tampered = new URL(u);
    tampered.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 1));
    const bad = await app.inject({ method: 'GET', url: tampered.pathname + tampered.search });
    assert.equal(bad.statusCode, 403);
    assert.deepEqual(bad.json(), errorBody('signature_invalid', `The signed URL is invalid: ask for a new one with GET /v1/files/${id}/url.`));
    const signer = app.atelier.signer.sign(app.atelier.defaultWorkspaceId, id, Math.floor(Date.now() / 1000) - 1);
    const expired = await app.inject({ method: 'GET', url: `/v1/files/${id}/signed-content?${new URLSearchParams({ ...signer, expires: String(signer.expires) })}` });
    assert.equal(expired.statusCode, 403);
    assert.equal(expired.json().code, 'signature_expired');
    const tooLong = await app.inject({ method: 'GET', url: `/v1/files/${id}/url?expiry=1000`, headers: auth });
    assert.equal(tooLong.statusCode, 422);
  });

  it('documents every error code in docs/architecture.md and uses each one in src', async () => {
    const doc = await readFile(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
    const table = doc.slice(doc.indexOf('## Errors'));
    const documented = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...documented].sort(), Object.keys(errorCodes).sort());
    const sources: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('errors.ts')) sources.push(await readFile(p, 'utf8'));
      }
    };
    await walk(path.dirname(new URL(import.meta.url).pathname));
    const all = sources.join('\n');
    for (const code of Object.keys(errorCodes)) assert.ok(all.includes(`'${code}'`), `error code ${code} is never thrown`);
  });
});
