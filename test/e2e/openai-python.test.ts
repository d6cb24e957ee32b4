// OpenAI's Python SDK (the openai package in .venv) runs the seed workflow against a live server
// with a worker (issue #14): test/e2e/openai_seed.py uploads, trains, waits, chats with the
// fine-tuned model and deletes it; this test checks what it saw.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';

const root = path.join(import.meta.dirname, '..', '..');
let server: TestServer;
let worker: RunningWorker;

before(async () => {
  server = await startTestServer({ settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1, servingMaxSeqLen: 256 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
});

after(async () => {
  await worker?.stop();
  await server?.close();
});

it('uploads, fine-tunes, chats with and deletes a model through the OpenAI Python SDK', async () => {
  const { stdout } = await promisify(execFile)(path.join(root, '.venv', 'bin', 'python'), [path.join(import.meta.dirname, 'openai_seed.py'), path.join(root, 'examples', 'quickstart', 'train.jsonl')], {
    env: { ...process.env, ATELIER_URL: server.url, ATELIER_KEY: server.key }, timeout: 900_000,
  });
  const seen = JSON.parse(stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
  assert.equal(seen.job_status, 'succeeded');
  assert.ok(Number.isInteger(seen.n_epochs) && (seen.n_epochs as number) >= 1, `n_epochs ${String(seen.n_epochs)}`);
  assert.match(String(seen.model), /^ft:tiny-mistral:/);
  assert.equal(seen.reply_model, seen.model);
  assert.ok((seen.completion_tokens as number) > 0 && typeof seen.content === 'string');
  assert.ok((seen.events as number) > 0);
  assert.equal(seen.file_status, 'processed');
  assert.equal(seen.deleted, true);
});
