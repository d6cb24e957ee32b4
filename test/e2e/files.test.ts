// The Files API through the official SDKs against a live loopback server: @mistralai/mistralai
// 2.7.0, mistralai-v1 (1.15.1, strict response parsing) and openai 7.57.0 (maxRetries 0).
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as MistralV1 } from 'mistralai-v1';
import OpenAI from 'openai';
import { pgSkipReason } from '../helpers/postgres.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const sample = (n: number) => `${JSON.stringify({ messages: [{ role: 'user', content: `q${n}` }, { role: 'assistant', content: `a${n}` }] })}\n`;
const dataset = Buffer.from([1, 2, 3].map(sample).join(''));

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
}

async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (err) {
    const status = (err as { statusCode?: number; status?: number }).statusCode ?? (err as { status?: number }).status;
    if (typeof status === 'number') return status;
    throw err;
  }
  return 200;
}

async function blobCount(dataDir: string): Promise<number> {
  const entries = await readdir(path.join(dataDir, 'files'), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

describe('files through the Mistral 2.7.0 SDK', () => {
  let server: TestServer;
  let client: Mistral;
  before(async () => {
    server = await startTestServer();
    client = new Mistral({ serverURL: server.url, apiKey: server.key });
  });
  after(() => server.close());

  it('uploads, deduplicates, validates and retrieves a fine-tune file', async () => {
    const up = await client.files.upload({ file: { fileName: 'train.jsonl', content: dataset } });
    assert.deepEqual([up.purpose, up.sampleType, up.source, up.sizeBytes, up.numLines, up.filename], ['fine-tune', 'instruct', 'upload', dataset.length, 3, 'train.jsonl']);
    assert.ok(Number.isInteger(up.createdAt));
    const again = await client.files.upload({ file: { fileName: 'train.jsonl', content: dataset } });
    assert.equal(again.id, up.id);
    await server.validated(up.id);
    const got = await client.files.retrieve({ fileId: up.id });
    assert.equal(got.deleted, false);
    assert.equal(got.id, up.id);
  });

  it('lists with no argument, with defaults, and with each filter', async () => {
    const batch = await client.files.upload({ file: { fileName: 'requests.jsonl', content: Buffer.from('{"custom_id":"1"}\n') }, purpose: 'batch' });
    const all = await client.files.list();
    assert.ok(all.data.length >= 2);
    assert.equal(all.total, all.data.length);
    const defaults = await client.files.list({});
    assert.deepEqual(defaults.data.map((f) => f.id), all.data.map((f) => f.id));
    const byType = await client.files.list({ sampleType: ['batch_request'] });
    assert.deepEqual(byType.data.map((f) => f.id), [batch.id]);
    const byPurpose = await client.files.list({ purpose: 'batch', source: ['upload'] });
    assert.deepEqual(byPurpose.data.map((f) => f.id), [batch.id]);
    const bySearch = await client.files.list({ search: 'REQUESTS' });
    assert.deepEqual(bySearch.data.map((f) => f.id), [batch.id]);
    const byMime = await client.files.list({ mimetypes: ['application/jsonl'], pageSize: 1, page: 0 });
    assert.equal(byMime.data.length, 1);
    assert.equal(byMime.total, all.data.filter((f) => f.mimetype === 'application/jsonl').length);
    const none = await client.files.list({ search: 'no-such-name', includeTotal: false });
    assert.deepEqual(none.data, []);
  });

  it('downloads byte-identical content and serves a signed URL without the key', async () => {
    const up = await client.files.upload({ file: { fileName: 'blob.bin', content: Buffer.from([0, 255, 10, 13, 0x80]) } });
    assert.deepEqual(await bytesOf(await client.files.download({ fileId: up.id })), Buffer.from([0, 255, 10, 13, 0x80]));
    const { url } = await client.files.getSignedUrl({ fileId: up.id });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from([0, 255, 10, 13, 0x80]));
    const tampered = url.replace(/signature=./, (m) => `${m.slice(0, -1)}${m.endsWith('A') ? 'B' : 'A'}`);
    assert.equal((await fetch(tampered)).status, 403);
  });

  it('deletes a file and its bytes', async () => {
    const up = await client.files.upload({ file: { fileName: 'gone.jsonl', content: Buffer.from(sample(9)) } });
    const before = await blobCount(server.dataDir);
    assert.deepEqual(await client.files.delete({ fileId: up.id }), { id: up.id, object: 'file', deleted: true });
    assert.equal(await blobCount(server.dataDir), before - 1);
    assert.equal(await statusOf(client.files.retrieve({ fileId: up.id })), 404);
    assert.equal(await statusOf(client.files.delete({ fileId: up.id })), 404);
  });

  it('answers 401 without a key and 404 for another workspace’s file', async () => {
    const up = await client.files.upload({ file: { fileName: 'mine.jsonl', content: Buffer.from(sample(7)) } });
    assert.equal(await statusOf(new Mistral({ serverURL: server.url }).files.list()), 401);
    assert.equal(await statusOf(new Mistral({ serverURL: server.url, apiKey: 'wrong' }).files.list()), 401);
    const other = new Mistral({ serverURL: server.url, apiKey: (await server.createKey('other-team')).key });
    assert.equal(await statusOf(other.files.retrieve({ fileId: up.id })), 404);
    assert.equal(await statusOf(other.files.download({ fileId: up.id })), 404);
    assert.equal(await statusOf(other.files.getSignedUrl({ fileId: up.id })), 404);
    assert.equal(await statusOf(other.files.delete({ fileId: up.id })), 404);
    assert.deepEqual((await other.files.list()).data, []);
    assert.equal((await client.files.retrieve({ fileId: up.id })).id, up.id);
  });
});

describe('files through mistralai-v1 (1.15.1, strict parsing)', () => {
  let server: TestServer;
  let client: MistralV1;
  before(async () => {
    server = await startTestServer();
    client = new MistralV1({ serverURL: server.url, apiKey: server.key });
  });
  after(() => server.close());

  it('parses every file reply strictly', async () => {
    const up = await client.files.upload({ file: { fileName: 'strict.jsonl', content: dataset } });
    assert.equal(up.numLines, 3);
    const list = await client.files.list({ sampleType: ['instruct'] });
    assert.deepEqual(list.data.map((f) => f.id), [up.id]);
    assert.equal((await client.files.retrieve({ fileId: up.id })).deleted, false);
    assert.deepEqual(await bytesOf(await client.files.download({ fileId: up.id })), dataset);
    assert.match((await client.files.getSignedUrl({ fileId: up.id, expiry: 1 })).url, /^http:\/\/127\.0\.0\.1:\d+\/v1\/files\//);
    assert.equal((await client.files.delete({ fileId: up.id })).deleted, true);
  });
});

describe('files through the OpenAI SDK', () => {
  let server: TestServer;
  let client: OpenAI;
  before(async () => {
    server = await startTestServer();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
  });
  after(() => server.close());

  it('creates, waits for processing, retrieves, reads and deletes', async () => {
    const created = await client.files.create({ file: new File([dataset], 'openai.jsonl'), purpose: 'fine-tune' });
    assert.deepEqual([created.bytes, created.filename, created.purpose, created.object], [dataset.length, 'openai.jsonl', 'fine-tune', 'file']);
    const processed = await client.files.waitForProcessing(created.id, { pollInterval: 20 });
    assert.equal(processed.status, 'processed');
    const report = (processed as unknown as { validation: { lines: number; valid_lines: number } }).validation;
    assert.deepEqual([report.lines, report.valid_lines], [3, 3]);
    assert.equal((await client.files.retrieve(created.id)).id, created.id);
    assert.deepEqual(Buffer.from(await (await client.files.content(created.id)).arrayBuffer()), dataset);
    assert.deepEqual(await client.files.delete(created.id), { id: created.id, object: 'file', deleted: true });
  });

  it('marks a fine-tune file with invalid lines as error and reports them', async () => {
    const created = await client.files.create({ file: new File(['{"messages": "nope"}\n', 'not json\n'], 'bad.jsonl'), purpose: 'fine-tune' });
    await server.validated(created.id);
    const got = (await client.files.retrieve(created.id)) as unknown as { status: string; validation: { valid_lines: number; errors: { line: number; file: string }[] } };
    assert.equal(got.status, 'error');
    assert.equal(got.validation.valid_lines, 0);
    assert.deepEqual([...new Set(got.validation.errors.map((e) => e.line))], [1, 2]);
    assert.ok(got.validation.errors.every((e) => e.file === 'bad.jsonl'), 'no server path leaks');
  });

  it('pages with after/limit through has_more', async () => {
    const ids = [];
    for (const n of [1, 2, 3]) ids.push((await client.files.create({ file: new File([`${n}`], `p${n}.txt`), purpose: 'user_data' })).id);
    const seen: string[] = [];
    for await (const f of client.files.list({ limit: 2, purpose: 'user_data' })) seen.push(f.id);
    assert.deepEqual(seen, [...ids].reverse());
    const asc = await client.files.list({ limit: 2, order: 'asc', purpose: 'user_data' });
    assert.deepEqual([asc.data.map((f) => f.id), asc.has_more], [ids.slice(0, 2), true]);
  });

  it('maps 401 and cross-workspace 404 to the SDK’s typed errors', async () => {
    const created = await client.files.create({ file: new File(['z'], 'z.txt'), purpose: 'assistants' });
    await assert.rejects(new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'wrong', maxRetries: 0 }).files.list(), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal(err.code, 'invalid_api_key');
      return true;
    });
    const other = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: (await server.createKey('elsewhere')).key, maxRetries: 0 });
    await assert.rejects(other.files.retrieve(created.id), (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, 'file_not_found');
      return true;
    });
  });
});

describe('upload size limit through the SDKs', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ settings: { maxFileBytes: 4096 } });
  });
  after(() => server.close());

  it('answers 413 to both SDKs and leaves no bytes behind', async () => {
    const big = Buffer.alloc(100_000, 120);
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    assert.equal(await statusOf(mistral.files.upload({ file: { fileName: 'big.jsonl', content: big } })), 413);
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    assert.equal(await statusOf(openai.files.create({ file: new File([big], 'big.jsonl'), purpose: 'batch' })), 413);
    assert.equal(await blobCount(server.dataDir), 0);
    const ok = await mistral.files.upload({ file: { fileName: 'small.jsonl', content: Buffer.alloc(4096, 120) } });
    assert.equal(ok.sizeBytes, 4096);
  });
});

const pgSkip = await pgSkipReason();
describe('files on PostgreSQL', { skip: pgSkip ?? false }, () => {
  it('uploads, lists, downloads and deletes through the Mistral SDK', async (t) => {
    const server = await startTestServer({ postgres: true });
    t.after(() => server.close());
    const client = new Mistral({ serverURL: server.url, apiKey: server.key });
    const up = await client.files.upload({ file: { fileName: 'pg.jsonl', content: dataset } });
    assert.equal((await client.files.upload({ file: { fileName: 'pg.jsonl', content: dataset } })).id, up.id);
    assert.deepEqual((await client.files.list({ search: 'pg' })).data.map((f) => f.id), [up.id]);
    assert.deepEqual(await bytesOf(await client.files.download({ fileId: up.id })), dataset);
    await server.validated(up.id);
    assert.equal((await client.files.delete({ fileId: up.id })).deleted, true);
  });
});
