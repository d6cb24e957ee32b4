// The multi-host layout of docs/deploy.md, on one machine: an API server and two workers, each with
// its own data dir, on one PostgreSQL database (one schema for this run). What they must share is
// the blob folder: worker B, whose blob folder is its own, claims the job and fails it saying what
// to share; worker C, whose ATELIER_BLOB_DIR is the API's blob folder, trains the next job to SUCCESS
// while its shards, checkpoints and adapter stay in its own data dir (why jobs/ must be shared too
// when another host serves, exports or resumes them).
import assert from 'node:assert/strict';
import { existsSync, openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from 'mistralai-ft';
import { loadSettings } from '../../src/settings/index.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';
import { pgSkipReason, testDatabaseUrl } from '../helpers/postgres.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart', 'train.jsonl');
const skip = await pgSkipReason();
let server: TestServer;
let mistral: Mistral;
const cleanup: (() => Promise<void>)[] = [];

/** A worker as on another host: its own data dir and store on the server's database. */
async function startRemoteWorker(id: string, overrides: { blobDir?: string }): Promise<{ dataDir: string; worker: RunningWorker; store: Store }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `atelier-${id}-`));
  const settings = loadSettings({ dataDir, databaseUrl: testDatabaseUrl, workerPollMs: 100, workerHeartbeatMs: 500, trainMaxRetries: 0, device: 'cpu', ...overrides }, {});
  const store = await openStore({ dataDir, databaseUrl: testDatabaseUrl, pgSchema: server.pgSchema ?? undefined, blobDir: settings.blobDir });
  const worker = startWorker({ store, settings, workerId: id, log: () => undefined });
  cleanup.push(async () => {
    await worker.stop();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { dataDir, worker, store };
}

async function createJob(train: string): Promise<string> {
  const job = await mistral.fineTuning.jobs.create({
    model: 'tiny-mistral', trainingFiles: [{ fileId: train, weight: 1 }], hyperparameters: { trainingSteps: 4, seqLen: 128, learningRate: 0.001 },
  });
  return (job as { id: string }).id;
}

async function ended(id: string): Promise<Record<string, unknown>> {
  const get = () => fetch(`${server.url}/v1/fine_tuning/jobs/${id}`, { headers: { authorization: `Bearer ${server.key}` } }).then((r) => r.json()) as Promise<Record<string, unknown>>;
  return until(get, (j) => ['SUCCESS', 'FAILED', 'FAILED_VALIDATION', 'CANCELLED'].includes(String(j.status)), `job ${id} to end`, 120_000, 200);
}

before(async () => {
  if (skip) return;
  server = await startTestServer({ postgres: true, settings: { device: 'cpu' } });
  mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
});

after(async () => {
  for (const c of cleanup.reverse()) await c();
  await server?.close();
});

describe('multi-host layout: two workers, own data dirs, one PostgreSQL database', { skip: skip ?? false }, () => {
  it('a worker that cannot see the API\'s blob folder fails the job saying what to share; one that shares it trains', async () => {
    const train = (await mistral.files.upload({ file: { fileName: 'train.jsonl', content: await openAsBlob(example) } })).id;

    const b = await startRemoteWorker('worker-b', {});
    const first = await createJob(train);
    const failed = await ended(first);
    assert.equal(failed.status, 'FAILED');
    const message = String((failed.error as { message?: string } | null)?.message ?? JSON.stringify(failed));
    assert.match(message, new RegExp(`file ${train} is not in this host's blob storage: the API host and every worker must share one blob folder \\(ATELIER_BLOB_DIR`));
    assert.ok(!message.includes(b.dataDir), 'no worker paths in a client-visible error');
    await b.worker.stop();

    const c = await startRemoteWorker('worker-c', { blobDir: path.join(server.dataDir, 'files') });
    const second = await createJob(train);
    const done = await ended(second);
    assert.equal(done.status, 'SUCCESS', JSON.stringify(done.error));
    // Trained on C's disk: its checkpoints and adapter are in C's data dir, not the API host's.
    assert.ok(existsSync(path.join(c.dataDir, 'jobs', second, 'adapter')), 'adapter in worker C\'s data dir');
    assert.ok(!existsSync(path.join(server.dataDir, 'jobs', second)), 'nothing of the job in the API host\'s data dir');
    const [model] = await c.store.db.query<{ adapter_dir: string }>('SELECT adapter_dir FROM models WHERE job_id = $1', [second]);
    assert.ok(model?.adapter_dir.startsWith(c.dataDir), `the model row names a path on C: ${model?.adapter_dir}`);
  });
});
