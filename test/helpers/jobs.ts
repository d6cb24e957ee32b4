/**
 * Fine-tuning jobs in end-to-end tests: narrowing the 2.x SDKs' job unions (they parse unknown shapes
 * silently as UNKNOWN, so each narrowing asserts), and a whole fine-tune (upload, job, SUCCESS) for
 * tests that need a trained model rather than the workflow itself.
 */
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Mistral as MistralFt } from 'mistralai-ft';
import type { TestServer } from './server.ts';
import { until } from './wait.ts';

/** A member of an SDK job union that is a real job. */
export type KnownJob<T> = Extract<T, { id: string; status: string }>;

/** Statuses a job does not leave. */
export const endedStatuses = ['SUCCESS', 'FAILED', 'FAILED_VALIDATION', 'CANCELLED'];

/** Asserts `j` is a completion or classifier job (not UNKNOWN, not legacy metadata) and narrows it. */
export function knownJob<T>(j: T): KnownJob<T> {
  const o = j as { jobType?: unknown; isUnknown?: unknown };
  assert.ok((o.jobType === 'completion' || o.jobType === 'classifier') && !o.isUnknown, `a known job shape: ${JSON.stringify(j).slice(0, 300)}`);
  return j as KnownJob<T>;
}

/** Asserts `j` is a completion job and narrows it. */
export function completionJob<T>(j: T): KnownJob<T> {
  const o = j as { jobType?: unknown; isUnknown?: unknown };
  assert.equal(o.jobType, 'completion', `a completion job, got ${JSON.stringify(j).slice(0, 300)}`);
  assert.ok(!o.isUnknown);
  return j as KnownJob<T>;
}

/** Asserts `j` is a classifier job and narrows it. */
export function classifierJob<T>(j: T): KnownJob<T> {
  const o = j as { jobType?: unknown; isUnknown?: unknown };
  assert.ok(o.jobType === 'classifier' && !o.isUnknown, `a classifier job, not ${JSON.stringify(j).slice(0, 300)}`);
  return j as KnownJob<T>;
}

type Hyperparameters = { trainingSteps: number; learningRate: number; seqLen: number };

/**
 * Fine-tunes tiny-mistral (or `model`) on `lines` (written to the server's data dir as `fileName`, uploaded,
 * job with autoStart) and returns the fine-tuned model's id; fails if the job ends otherwise than
 * SUCCESS or takes longer than `ms`. Needs a worker running against `server`.
 */
export async function fineTuneModel(server: TestServer, p: { fileName: string; lines: string[]; hyperparameters: Hyperparameters; ms?: number; model?: string }): Promise<string> {
  const ft = new MistralFt({ serverURL: server.url, apiKey: server.key });
  const file = path.join(server.dataDir, p.fileName);
  await writeFile(file, `${p.lines.join('\n')}\n`);
  const uploaded = await ft.files.upload({ file: { fileName: p.fileName, content: await openAsBlob(file) } });
  const job = completionJob(await ft.fineTuning.jobs.create({
    model: p.model ?? 'tiny-mistral', trainingFiles: [{ fileId: uploaded.id, weight: 1 }], autoStart: true, hyperparameters: p.hyperparameters,
  }));
  const done = await until(
    async () => completionJob(await ft.fineTuning.jobs.get({ jobId: job.id })),
    (j) => (j.status === 'SUCCESS' && Boolean(j.fineTunedModel)) || (j.status !== 'SUCCESS' && endedStatuses.includes(j.status)),
    'the fine-tune to end', p.ms ?? 240_000, 200,
  );
  assert.equal(done.status, 'SUCCESS', `job ended ${done.status}`);
  return done.fineTunedModel ?? '';
}
