// Fault suite: a trainer SIGKILLed mid-job (what the out-of-memory killer does) is restarted from
// its last checkpoint and the job ends SUCCESS with its steps and losses continuing; past
// ATELIER_TRAIN_MAX_RETRIES the job is FAILED with a reason a user can act on. SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Mistral } from 'mistralai-ft';
import OpenAI from 'openai';
import { startWorker } from '../../src/worker/index.ts';
import { knownJob } from '../helpers/jobs.ts';
import { pgSkipReason } from '../helpers/postgres.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const root = path.join(import.meta.dirname, '..', '..');
const ended = ['SUCCESS', 'FAILED', 'CANCELLED'];

/** Pids of the live processes whose command line names this job's trainer config. */
async function trainerPids(dataDir: string, jobId: string): Promise<number[]> {
  const config = path.join(dataDir, 'jobs', jobId, 'config.json');
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0').includes(config)) pids.push(Number(name));
  }
  return pids;
}

async function startJob(server: TestServer, trainingSteps: number) {
  const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
  const train = await mistral.files.upload({ file: { fileName: 'train.jsonl', content: await openAsBlob(path.join(root, 'examples', 'quickstart', 'train.jsonl')) } });
  const job = knownJob(await mistral.fineTuning.jobs.create({
    model: 'tiny-mistral', trainingFiles: [{ fileId: train.id, weight: 1 }], hyperparameters: { trainingSteps, seqLen: 128, learningRate: 0.001 },
    autoStart: true,
  }));
  return { mistral, openai: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key }), jobId: job.id };
}

/** SIGKILLs the job's running trainer once it has written a checkpoint; returns that checkpoint's step. */
async function killTrainerAfterCheckpoint(server: TestServer, openai: OpenAI, jobId: string, after = 0): Promise<number> {
  const ckpts = await until(() => openai.fineTuning.jobs.checkpoints.list(jobId), (p) => p.data.some((c) => c.step_number > after), 'a checkpoint', 300_000);
  const pids = await until(() => trainerPids(server.dataDir, jobId), (p) => p.length > 0, 'the trainer process', 10_000);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  return Math.max(...ckpts.data.map((c) => c.step_number));
}

type Ev = { message: string; level: string; data?: unknown };
const dataOf = (e: Ev) => (e.data ?? {}) as Record<string, number | null | undefined>;

function suite(name: string, postgres: boolean, skip: string | false) {
  describe(`trainer killed on ${name}`, { skip }, () => {
    it('SIGKILL mid-job: retried from the checkpoint, SUCCESS, steps and losses continue', async (t) => {
      const server = await startTestServer({ postgres, settings: { workerPollMs: 50, trainMaxRetries: 2 } });
      const worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
      t.after(async () => {
        await worker.stop();
        await server.close();
      });
      const { mistral, openai, jobId } = await startJob(server, 30);
      const killedAt = await killTrainerAfterCheckpoint(server, openai, jobId);
      const done = await until(async () => knownJob(await mistral.fineTuning.jobs.get({ jobId })), (j) => ended.includes(j.status), 'the job to end', 300_000);
      assert.equal(done.status, 'SUCCESS', JSON.stringify(done));
      const events = (await openai.fineTuning.jobs.listEvents(jobId, { limit: 1000 })).data.reverse() as Ev[];
      const retry = events.find((e) => e.message.startsWith('Training interrupted'));
      assert.ok(retry, 'a warning event records the retry');
      assert.match(retry.message, /killed by SIGKILL \(likely the out-of-memory killer/);
      assert.match(retry.message, /retry 1 of 2/);
      assert.doesNotMatch(retry.message, new RegExp(server.dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no server paths');
      const resumed = events.filter((e) => e.message.startsWith('Training resumed'));
      assert.equal(resumed.length, 1);
      const from = Number(dataOf(resumed[0]).resumed_from_step);
      assert.ok(from >= killedAt && from < 30, `resumed from step ${from}, at or after checkpoint ${killedAt}`);
      // Steps continue: every metrics event after the resume is past its step, and the tokens counted
      // before the kill are kept (not restarted from zero).
      const at = events.indexOf(resumed[0]);
      const before = events.slice(0, at).filter((e) => e.message.startsWith('Step ')).map(dataOf);
      const afterResume = events.slice(at).filter((e) => e.message.startsWith('Step ')).map(dataOf);
      assert.ok(afterResume.length > 0 && afterResume.every((d) => Number(d.step) > from), 'post-resume steps continue past the checkpoint');
      const tokensAtResume = Math.max(...before.filter((d) => Number(d.step) <= from).map((d) => Number(d.trained_tokens)));
      assert.ok(Number(afterResume[0].trained_tokens) > tokensAtResume, 'trained tokens continue from the checkpoint');
      assert.ok(afterResume.every((d) => typeof d.train_loss === 'number' && Number.isFinite(d.train_loss)), 'losses stay finite');
      const ckpts = (await openai.fineTuning.jobs.checkpoints.list(jobId, { limit: 100 })).data.map((c) => c.step_number).sort((a, b) => a - b);
      assert.deepEqual(new Set(ckpts).size, ckpts.length, 'no checkpoint step recorded twice');
      assert.equal(ckpts.at(-1), 30);
      assert.equal((await trainerPids(server.dataDir, jobId)).length, 0);
    });

    it('killed more often than ATELIER_TRAIN_MAX_RETRIES: FAILED with the signal, the likely cause and no paths', async (t) => {
      const server = await startTestServer({ postgres, settings: { workerPollMs: 50, trainMaxRetries: 0 } });
      const worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
      t.after(async () => {
        await worker.stop();
        await server.close();
      });
      const { mistral, openai, jobId } = await startJob(server, 30);
      await killTrainerAfterCheckpoint(server, openai, jobId);
      const done = await until(async () => knownJob(await mistral.fineTuning.jobs.get({ jobId })), (j) => ended.includes(j.status), 'the job to end', 300_000);
      assert.equal(done.status, 'FAILED');
      const message = (await openai.fineTuning.jobs.retrieve(jobId)).error?.message ?? '';
      assert.match(message, /killed by SIGKILL \(likely the out-of-memory killer: lower batch_size or seq_len/);
      assert.ok(!message.includes(server.dataDir) && !message.includes(root), `no server paths: ${message}`);
    });
  });
}

suite('SQLite', false, false);
suite('PostgreSQL', true, (await pgSkipReason()) ?? false);
