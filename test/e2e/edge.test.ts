// The HTTP edge under bad input (issue #13), on SQLite and on PostgreSQL alike: truncated or
// boundary-less multipart bodies, NUL bytes in every kind of string, out-of-range upload expiry,
// over-long ids and headers, a forged Host header, a missing job's 404 and chat with a classifier.
// Each answer is a 4xx in the API's error shape, the server lives on and refused requests leave
// no row and no blob behind.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createFineTunedModel } from '../../src/store/index.ts';
import { pgSkipReason } from '../helpers/postgres.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart');

type Reply = { status: number; body: Record<string, unknown> };

const truncatedFilePart = '--bz\r\nContent-Disposition: form-data; name="file"; filename="t.jsonl"\r\n\r\n{"a":1}\n';
const truncatedFieldPart = '--bz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine';

function form(fields: Record<string, string>, filename = 't.jsonl', content = '{"a":1}\n'): string {
  const parts = Object.entries(fields).map(([k, v]) => `--bz\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
  return `${parts.join('')}--bz\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n\r\n${content}\r\n--bz--\r\n`;
}

async function blobFiles(dataDir: string): Promise<string[]> {
  const entries = await readdir(path.join(dataDir, 'files'), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`HTTP edge under bad input (${backend})`, async () => {
    const skip = backend === 'postgres' ? await pgSkipReason() : null;
    let server: TestServer;
    const call = async (method: string, url: string, init: { body?: string; type?: string; headers?: Record<string, string> } = {}): Promise<Reply> => {
      const headers: Record<string, string> = { authorization: `Bearer ${server.key}`, ...init.headers };
      if (init.type) headers['content-type'] = init.type;
      const res = await fetch(server.url + url, { method, headers, body: init.body });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    };
    const upload = (body: string, type = 'multipart/form-data; boundary=bz') => call('POST', '/v1/files', { body, type });
    const assertAliveAndEmpty = async () => {
      assert.equal((await call('GET', '/health')).status, 200);
      assert.equal((await call('GET', '/v1/files')).body.total, 0);
      assert.deepEqual(await blobFiles(server.dataDir), []);
    };

    before(async () => {
      if (!skip) server = await startTestServer({ postgres: backend === 'postgres', settings: { jobMaxTrainingSteps: 500 } });
    });
    after(() => server?.close());

    it('answers a multipart body cut off inside the file part with 400 and lives on', { skip: skip ?? false }, async () => {
      const r = await upload(truncatedFilePart);
      assert.equal(r.status, 400);
      assert.equal(r.body.code, 'invalid_multipart');
      assert.match(String(r.body.message), /multipart body is malformed/);
      assert.deepEqual(r.body.error, { message: r.body.message, type: 'invalid_request_error', param: null, code: 'invalid_multipart' });
      await assertAliveAndEmpty();
    });

    it('answers multipart without a boundary or cut off inside a field part with 400', { skip: skip ?? false }, async () => {
      for (const [body, type] of [['--bz\r\n', 'multipart/form-data'], [truncatedFieldPart, 'multipart/form-data; boundary=bz']] as const) {
        const r = await upload(body, type);
        assert.deepEqual([r.status, r.body.code], [400, 'invalid_multipart'], JSON.stringify(r.body));
      }
      await assertAliveAndEmpty();
    });

    it('refuses a NUL byte in ids, query filters, JSON fields and multipart fields with 422 naming the field', { skip: skip ?? false }, async () => {
      const cases: [string, string, { body?: string; type?: string }, string][] = [
        ['GET', '/v1/files/a%00b', {}, 'file_id'],
        ['DELETE', '/v1/files/a%00b', {}, 'file_id'],
        ['GET', '/v1/fine_tuning/jobs/a%00b', {}, 'job_id'],
        ['GET', '/v1/fine_tuning/jobs/a%2500b', {}, 'job_id'],
        ['POST', '/v1/fine_tuning/jobs/a%00b/start', {}, 'job_id'],
        ['GET', '/v1/models/a%00b', {}, 'model_id'],
        ['GET', '/v1/files?search=a%00b', {}, 'search'],
        ['GET', '/v1/fine_tuning/jobs?suffix=a%00b', {}, 'suffix'],
        ['GET', '/v1/fine_tuning/jobs?metadata%5Bk%5D=a%00b', {}, 'metadata[k]'],
        ['POST', '/v1/fine_tuning/jobs', { body: JSON.stringify({ model: 'tiny\u0000', training_files: [{ file_id: 'x' }] }), type: 'application/json' }, 'model'],
        ['POST', '/v1/chat/completions', { body: JSON.stringify({ model: 'tiny-mistral', messages: [{ role: 'user', content: 'a\u0000' }] }), type: 'application/json' }, 'messages.0.content'],
        ['POST', '/v1/files', { body: form({ purpose: 'fine\u0000tune' }), type: 'multipart/form-data; boundary=bz' }, 'purpose'],
        ['POST', '/v1/files', { body: form({}, 'a\u0000.jsonl'), type: 'multipart/form-data; boundary=bz' }, 'file.filename'],
      ];
      for (const [method, url, init, field] of cases) {
        const r = await call(method, url, init);
        assert.equal(r.status, 422, `${method} ${url}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.param, field, `${method} ${url}`);
        assert.match(String(r.body.message), /NUL byte/);
      }
      await assertAliveAndEmpty();
    });

    it('refuses an upload expiry beyond fileMaxExpiryHours with 422 and keeps no bytes', { skip: skip ?? false }, async () => {
      const tooLong: Record<string, string>[] = [{ expiry: '721' }, { expiry: '9999999999999999' }, { 'expires_after[anchor]': 'created_at', 'expires_after[seconds]': String(721 * 3600) }];
      for (const fields of tooLong) {
        const r = await upload(form(fields));
        assert.equal(r.status, 422, JSON.stringify(r.body));
        assert.equal(r.body.param, Object.keys(fields).at(-1));
      }
      await assertAliveAndEmpty();
      const ok = await upload(form({ expiry: '720' }));
      assert.equal(ok.status, 200);
      assert.ok(Math.abs(Number(ok.body.expires_at) - (Date.now() / 1000 + 720 * 3600)) < 60);
      assert.equal((await call('DELETE', `/v1/files/${String(ok.body.id)}`)).status, 200);
    });

    it('answers an over-long id with 414 and oversized headers with 431, both in the API error shape', { skip: skip ?? false }, async () => {
      const long = await call('GET', `/v1/files/${'a'.repeat(101)}`);
      assert.deepEqual([long.status, long.body.code, long.body.object], [414, 'uri_too_long', 'error']);
      const huge = await call('GET', '/v1/files', { headers: { 'x-pad': 'a'.repeat(64 * 1024) } });
      assert.deepEqual([huge.status, huge.body.code, huge.body.object], [431, 'headers_too_large', 'error']);
      assert.equal((await call('GET', '/health')).status, 200);
    });

    it("names the missing job's id in its 404", { skip: skip ?? false }, async () => {
      const r = await call('GET', '/v1/fine_tuning/jobs/job-that-is-not-there');
      assert.equal(r.status, 404);
      assert.equal(r.body.message, "No fine-tuning job with id 'job-that-is-not-there' in this workspace.");
    });

    it('signs download URLs with the listening address, never a forged Host header', { skip: skip ?? false }, async () => {
      const up = await upload(form({ purpose: 'batch' }, 's.jsonl'));
      // fetch does not let a caller set Host; node:http sends it as given.
      const forged = await new Promise<string>((resolve, reject) => {
        const { hostname, port } = new URL(server.url);
        const headers = { host: 'evil.example:666', authorization: `Bearer ${server.key}` };
        http.get({ hostname, port, path: `/v1/files/${String(up.body.id)}/url`, headers }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      const url = new URL(String((JSON.parse(forged) as { url: string }).url));
      assert.equal(url.origin, server.url);
      const download = await fetch(url);
      assert.equal(await download.text(), '{"a":1}\n');
      assert.equal((await call('DELETE', `/v1/files/${String(up.body.id)}`)).status, 200);
    });

    it('moves a started job on to QUEUED at once (queued in OpenAI), and refuses to start one whose file was deleted', { skip: skip ?? false }, async () => {
      const train = await upload(form({}, 'train.jsonl', await readFile(path.join(example, 'train.jsonl'), 'utf8')));
      const create = (steps: number) => call('POST', '/v1/fine_tuning/jobs', {
        body: JSON.stringify({ model: 'tiny-mistral', training_files: [{ file_id: train.body.id }], auto_start: false, hyperparameters: { training_steps: steps } }), type: 'application/json',
      });
      const [a, b] = [(await create(1)).body, (await create(2)).body];
      const validated = async (id: unknown) => {
        for (;;) {
          const j = await call('GET', `/v1/fine_tuning/jobs/${String(id)}`);
          if (!['QUEUED', 'STARTED', 'VALIDATING'].includes(String(j.body.status))) return j.body.status;
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      assert.deepEqual([await validated(a.id), await validated(b.id)], ['VALIDATED', 'VALIDATED']);
      const started = await call('POST', `/v1/fine_tuning/jobs/${String(a.id)}/start`);
      assert.equal(started.body.status, 'QUEUED', 'no worker runs here: the job waits at QUEUED, not VALIDATED');
      const openai = await call('GET', `/v1/fine_tuning/jobs/${String(a.id)}`, { headers: { 'x-stainless-lang': 'js' } });
      assert.equal(openai.body.status, 'queued');
      assert.equal((await call('DELETE', `/v1/files/${String(train.body.id)}`)).status, 200);
      const refused = await call('POST', `/v1/fine_tuning/jobs/${String(b.id)}/start`);
      assert.equal(refused.status, 400);
      assert.match(String(refused.body.message), new RegExp(`File '${String(train.body.id)}' of job ${String(b.id)} was deleted`));
      assert.equal((await call('GET', `/v1/fine_tuning/jobs/${String(b.id)}`)).body.status, 'VALIDATED', 'a refused start changes nothing');
      for (const id of [a.id, b.id]) assert.equal((await call('POST', `/v1/fine_tuning/jobs/${String(id)}/cancel`)).body.status, 'CANCELLED');
    });

    it('refuses out-of-bounds hyperparameters and seeds at creation in both dialects, naming the field', { skip: skip ?? false }, async () => {
      const train = await upload(form({}, 'bounds.jsonl', await readFile(path.join(example, 'train.jsonl'), 'utf8')));
      const mistral = (h: Record<string, unknown>) => ({ model: 'tiny-mistral', training_files: [{ file_id: train.body.id }], hyperparameters: h });
      const openai = (extra: Record<string, unknown>) => ({ model: 'tiny-mistral', training_file: train.body.id, ...extra });
      const jobsBefore = (await call('GET', '/v1/fine_tuning/jobs')).body.total;
      // Bounds the official spec states (learning_rate <= 1, n_epochs 1..50) are schema errors (422
      // validation_failed); the ones Atelier's settings add are 400 invalid_job naming the setting.
      const spec: [Record<string, unknown>, string][] = [
        [mistral({ learning_rate: 10 }), 'hyperparameters.learning_rate'],
        [mistral({ learning_rate: 1e308 }), 'hyperparameters.learning_rate'],
        [openai({ hyperparameters: { n_epochs: 1e308 } }), 'hyperparameters.n_epochs'],
      ];
      for (const [body, field] of spec) {
        const r = await call('POST', '/v1/fine_tuning/jobs', { body: JSON.stringify(body), type: 'application/json' });
        assert.equal(r.status, 422, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
        assert.deepEqual([r.body.code, r.body.param], ['validation_failed', field]);
      }
      const cases: [Record<string, unknown>, string][] = [
        [mistral({ epochs: 1e308 }), 'hyperparameters.epochs'],
        [mistral({ training_steps: 2 ** 53 - 1 }), 'hyperparameters.training_steps'],
        [mistral({ training_steps: 501 }), 'hyperparameters.training_steps'],
        [openai({ hyperparameters: { batch_size: 1.5 } }), 'hyperparameters.batch_size'],
        [openai({ hyperparameters: { batch_size: 1e9 } }), 'hyperparameters.batch_size'],
        [openai({ hyperparameters: { learning_rate_multiplier: 1e6 } }), 'hyperparameters.learning_rate_multiplier'],
        [openai({ seed: -1 }), 'seed'],
      ];
      for (const [body, field] of cases) {
        const r = await call('POST', '/v1/fine_tuning/jobs', { body: JSON.stringify(body), type: 'application/json' });
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
        assert.deepEqual([r.body.code, r.body.param], ['invalid_job', field]);
        assert.match(String(r.body.message), /setting jobMax|whole number/);
      }
      assert.equal((await call('GET', '/v1/fine_tuning/jobs')).body.total, jobsBefore, 'no job was created');
      // 100 epochs of ~1,000 tokens at 128 tokens per step come to ~780 steps, above jobMaxTrainingSteps 500.
      const many = await call('POST', '/v1/fine_tuning/jobs', { body: JSON.stringify(mistral({ epochs: 100, seq_len: 128 })), type: 'application/json' });
      assert.equal(many.status, 200);
      let failed = many.body;
      for (const deadline = Date.now() + 60_000; failed.status !== 'failed' && Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 50));
        failed = (await call('GET', `/v1/fine_tuning/jobs/${String(many.body.id)}`, { headers: { 'x-stainless-lang': 'js' } })).body;
      }
      assert.equal((failed.error as { param?: string } | null)?.param, 'hyperparameters.epochs', JSON.stringify(failed).slice(0, 400));
      assert.match(String((failed.error as { message?: string }).message), /setting jobMaxTrainingSteps/);
      assert.equal((await call('DELETE', `/v1/files/${String(train.body.id)}`)).status, 200);
    });

    it('refuses chat requests outside the served limits with 400 naming the field, before any engine starts', { skip: skip ?? false }, async () => {
      const user = { role: 'user', content: 'hi' };
      const deepSchema = '{"type":"object","properties":{"p":'.repeat(3000) + '{"type":"string"}' + '}}'.repeat(3000);
      const cases: [string, string][] = [
        [JSON.stringify({ model: 'tiny-mistral', messages: [user], n: 1000 }), 'n'],
        [JSON.stringify({ model: 'tiny-mistral', messages: [user, { role: 'system', content: 'be brief' }] }), 'messages.1.role'],
        [JSON.stringify({ model: 'tiny-mistral', messages: [user, { role: 'assistant', content: 'Sure', prefix: true }, user] }), 'messages.1.prefix'],
        [`{"model":"tiny-mistral","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${deepSchema}}}]}`, 'tools.0.function.parameters'],
        [`{"model":"tiny-mistral","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${deepSchema}}}}`, 'response_format.json_schema.schema'],
      ];
      for (const [body, field] of cases) {
        const r = await call('POST', '/v1/chat/completions', { body, type: 'application/json' });
        assert.deepEqual([r.status, r.body.code, r.body.param], [400, 'invalid_request', field], JSON.stringify(r.body).slice(0, 300));
        assert.doesNotMatch(String(r.body.message), /call stack/);
      }
    });

    it('refuses chat completions with a classifier model with 400 naming its type', { skip: skip ?? false }, async () => {
      const model = 'ft:classifier:tiny-mistral:edge';
      await createFineTunedModel(server.running.context.store.db, {
        id: model, workspaceId: server.workspaceId, jobId: 'edge-job', baseModel: 'tiny-mistral', modelType: 'classifier',
        adapterDir: path.join(server.dataDir, 'adapters', 'none'), classifierTargets: [{ name: 't', labels: ['a', 'b'] }],
      });
      const r = await call('POST', '/v1/chat/completions', { body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }), type: 'application/json' });
      assert.deepEqual([r.status, r.body.code, r.body.param], [400, 'model_wrong_type', 'model']);
      assert.match(String(r.body.message), /is a classifier model/);
    });
  });
}
