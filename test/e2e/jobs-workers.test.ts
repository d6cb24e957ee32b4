// Separate `atelier worker` processes sharing the server's database and data dir: a worker killed
// with SIGKILL mid-job takes its trainer with it, another worker takes the job over after the stale
// heartbeat and resumes it from the last checkpoint, and the job still ends SUCCESS.
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from 'mistralai-ft';
import OpenAI from 'openai';
import { knownJob } from '../helpers/jobs.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const root = path.join(import.meta.dirname, '..', '..');
const workers: ChildProcess[] = [];
let server: TestServer;

function startWorkerProcess(id: string): ChildProcess {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'atelier.js'), 'worker', '--data-dir', server.dataDir, '--worker-id', id], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ATELIER_WORKER_HEARTBEAT_MS: '200', ATELIER_WORKER_STALE_MS: '2500', ATELIER_WORKER_POLL_MS: '100' },
  });
  workers.push(child);
  return child;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

before(async () => {
  server = await startTestServer();
});

after(async () => {
  for (const w of workers) {
    if (w.exitCode === null && w.signalCode === null) {
      w.kill('SIGTERM');
      await new Promise((r) => w.once('exit', r));
    }
  }
  await server?.close();
});

describe('worker processes', () => {
  it('a worker SIGKILLed mid-job: its trainer dies with it, another worker resumes from the checkpoint, the job ends SUCCESS', async () => {
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key });
    const train = await mistral.files.upload({ file: { fileName: 'train.jsonl', content: await openAsBlob(path.join(root, 'examples', 'quickstart', 'train.jsonl')) } });
    const first = startWorkerProcess('worker-a');
    const job = knownJob(await mistral.fineTuning.jobs.create({
      model: 'tiny-mistral', trainingFiles: [{ fileId: train.id, weight: 1 }], hyperparameters: { trainingSteps: 60, seqLen: 128, learningRate: 0.001 },
    }));
    const ckpts = await until(() => openai.fineTuning.jobs.checkpoints.list(job.id), (p) => p.data.length > 0, 'a first checkpoint');
    const checkpointStep = ckpts.data[0]?.step_number ?? 0;
    const trainerPids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(first.pid)], { encoding: 'utf8' }).trim().split(/\s+/).map(Number).filter(Boolean);
    assert.ok(trainerPids.length >= 1, 'worker-a runs a trainer child');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    await until(async () => trainerPids.filter(alive), (left) => left.length === 0, "worker-a's trainer to die with it", 10_000);
    const before = knownJob(await mistral.fineTuning.jobs.get({ jobId: job.id }));
    assert.equal(before.status, 'RUNNING', 'the job is still RUNNING, held by a dead worker');

    startWorkerProcess('worker-b');
    const done = await until(async () => knownJob(await mistral.fineTuning.jobs.get({ jobId: job.id })), (j) => ['SUCCESS', 'FAILED', 'CANCELLED'].includes(j.status), 'SUCCESS');
    assert.equal(done.status, 'SUCCESS');
    assert.equal(done.jobType, 'completion');
    const events = (await openai.fineTuning.jobs.listEvents(job.id, { limit: 1000 })).data;
    assert.ok(events.some((e) => e.message.includes('worker-b took over')), 'the take-over is recorded');
    const resumed = events.find((e) => e.message.startsWith('Training resumed'));
    const from = Number((resumed?.data as { resumed_from_step?: number } | undefined)?.resumed_from_step);
    assert.ok(from >= checkpointStep && from < 60, `resumed from step ${from}, at or after checkpoint ${checkpointStep}`);
    const statuses = events.filter((e) => e.message.startsWith('Job status')).map((e) => e.message);
    assert.equal(statuses.filter((m) => m.endsWith('RUNNING')).length, 1, 'RUNNING once: the take-over is not a new status');
  });
});
