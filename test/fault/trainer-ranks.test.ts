// Fault suite, several ranks per job (ATELIER_TRAIN_PROCESSES=2 on CPU: torchrun with 2 gloo ranks):
// the job's events say it ran on 2 ranks; SIGKILL of one rank ends the run within the collective
// timeout and the job is retried from its last checkpoint to SUCCESS (never a hang); a cancel
// reaches every rank and leaves no process behind.
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Mistral } from 'mistralai-ft';
import OpenAI from 'openai';
import { startWorker } from '../../src/worker/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const root = path.join(import.meta.dirname, '..', '..');
const collectiveTimeoutS = 20;
const stopGraceS = 10;

type Proc = { pid: number; rank: string | null };

/** The live processes of this job's run (torchrun and its ranks name its config), with their RANK. */
async function runProcesses(dataDir: string, jobId: string): Promise<Proc[]> {
  const config = path.join(dataDir, 'jobs', jobId, 'config.json');
  const procs: Proc[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (!cmd.split('\0').includes(config)) continue;
    const env = await readFile(`/proc/${name}/environ`, 'utf8').catch(() => '');
    const rank = env.split('\0').find((v) => v.startsWith('RANK='))?.slice(5) ?? null;
    procs.push({ pid: Number(name), rank });
  }
  return procs;
}

async function startTwoRankServer(t: TestContext) {
  const server = await startTestServer({
    settings: {
      workerPollMs: 50, trainMaxRetries: 2, device: 'cpu', trainProcesses: 2,
      trainCollectiveTimeoutS: collectiveTimeoutS, trainStopGraceS: stopGraceS,
    },
  });
  const worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  t.after(async () => {
    await worker.stop();
    await server.close();
  });
  return server;
}

/** A tiny-mistral job of 2 sequences per step (one per rank), started at once. */
async function startJob(server: TestServer, trainingSteps: number): Promise<string> {
  const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
  const train = await mistral.files.upload({ file: { fileName: 'train.jsonl', content: await openAsBlob(path.join(root, 'examples', 'quickstart', 'train.jsonl')) } });
  const res = await fetch(`${server.url}/v1/fine_tuning/jobs`, {
    method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'tiny-mistral', training_files: [{ file_id: train.id, weight: 1 }], auto_start: true,
      hyperparameters: { training_steps: trainingSteps, seq_len: 128, learning_rate: 0.001, batch_size: 2 },
    }),
  });
  assert.ok(res.ok, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

type Ev = { message: string; level: string; data?: Record<string, unknown> | null };
const eventsOf = async (openai: OpenAI, jobId: string) => (await openai.fineTuning.jobs.listEvents(jobId, { limit: 1000 })).data.reverse() as unknown as Ev[];

describe('a job on 2 ranks (torchrun, gloo on CPU)', () => {
  it('one rank SIGKILLed: the run ends within the collective timeout and is retried from its checkpoint to SUCCESS', async (t) => {
    const server = await startTwoRankServer(t);
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key });
    const jobId = await startJob(server, 24); // checkpoints at steps 10, 20 and 24
    await until(() => openai.fineTuning.jobs.checkpoints.list(jobId), (p) => p.data.length > 0, 'a checkpoint', 300_000);
    const procs = await until(() => runProcesses(server.dataDir, jobId), (p) => p.some((x) => x.rank === '1'), 'rank 1', 10_000);
    assert.equal(procs.filter((p) => p.rank !== null).length, 2, `two ranks: ${JSON.stringify(procs)}`);
    const killedMs = Date.now();
    process.kill(procs.find((p) => p.rank === '1')!.pid, 'SIGKILL');
    const retry = await until(() => eventsOf(openai, jobId), (evs) => evs.some((e) => e.message.startsWith('Training interrupted')), 'the retry', 120_000);
    const noticedS = (Date.now() - killedMs) / 1000;
    assert.ok(noticedS < collectiveTimeoutS + stopGraceS + 30, `the dead rank was noticed after ${noticedS} s`);
    t.diagnostic(`rank 1 SIGKILLed; the retry was announced ${noticedS.toFixed(1)} s later`);
    const warn = retry.find((e) => e.message.startsWith('Training interrupted'))!;
    const fromStep = Number(warn.data?.resume_from_step);
    assert.ok(fromStep >= 10, `retried from the checkpoint at step ${fromStep}`);
    const done = await until(() => openai.fineTuning.jobs.retrieve(jobId), (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status), 'the job to end', 300_000);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    const events = await eventsOf(openai, jobId);
    const started = events.find((e) => e.message.startsWith('Training started'))!;
    assert.match(started.message, /^Training started on cpu with 2 ranks \(ddp\)/);
    assert.deepEqual([started.data?.ranks, started.data?.parallel], [2, 'ddp']);
    const resumed = events.filter((e) => e.message.startsWith('Training resumed'));
    assert.equal(resumed.length, 1);
    assert.equal(resumed[0]!.data?.resumed_from_step, fromStep);
    assert.equal(resumed[0]!.data?.ranks, 2);
    assert.deepEqual(await runProcesses(server.dataDir, jobId), [], 'no rank outlives the job');
  });

  it('a cancel reaches every rank: CANCELLED and no process left', async (t) => {
    const server = await startTwoRankServer(t);
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key });
    const jobId = await startJob(server, 2000);
    await until(() => eventsOf(openai, jobId), (evs) => evs.some((e) => e.message.startsWith('Step ')), 'a training step', 300_000);
    assert.equal((await runProcesses(server.dataDir, jobId)).filter((p) => p.rank !== null).length, 2);
    await openai.fineTuning.jobs.cancel(jobId);
    const done = await until(() => openai.fineTuning.jobs.retrieve(jobId), (j) => j.status === 'cancelled', 'CANCELLED', 60_000);
    assert.equal(done.status, 'cancelled');
    await until(() => runProcesses(server.dataDir, jobId), (p) => p.length === 0, 'every process of the run to exit', (stopGraceS + 5) * 1000);
  });
});
