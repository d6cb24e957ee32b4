// The memory plan at validation (docs/trainer.md, "Memory"), on a server told its training device has
// 1 GiB (deviceMemoryGib): a small job fits without activation checkpointing, a larger one fits by
// checkpointing blocks (the dry run says how many), and one that cannot fit even with every block
// checkpointed ends FAILED_VALIDATION with the numbers and what to change. No worker: nothing trains.
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from 'mistralai-ft';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart');
let server: TestServer;
let mistral: Mistral;
let train: string;

before(async () => {
  server = await startTestServer({ settings: { deviceMemoryGib: 1, device: 'cpu' } });
  mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
  train = (await mistral.files.upload({ file: { fileName: 'train.jsonl', content: await openAsBlob(path.join(example, 'train.jsonl')) } })).id;
});

after(async () => {
  await server?.close();
});

async function dryRun(hyperparameters: Record<string, number>): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/v1/fine_tuning/jobs?dry_run=true`, {
    method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny-mistral', training_files: [{ file_id: train, weight: 1 }], hyperparameters: { training_steps: 2, ...hyperparameters } }),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, unknown>;
}

describe('memory plan at validation', () => {
  it('a small job fits without checkpointing; a larger one is planned with checkpointed blocks', async () => {
    const small = await dryRun({ seq_len: 128 });
    assert.match(String(small.details), /Estimated peak memory 0\.\d GiB of 1 GiB per cpu device, no activation checkpointing\./);
    const larger = await dryRun({ seq_len: 4096, batch_size: 4 });
    assert.match(String(larger.details), /activation checkpointing on [12] blocks\./);
  });

  it('a job that cannot fit even with checkpointing fails validation with the numbers and the fix', async () => {
    const res = await fetch(`${server.url}/v1/fine_tuning/jobs`, {
      method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-mistral', training_files: [{ file_id: train, weight: 1 }], hyperparameters: { training_steps: 2, seq_len: 8192, batch_size: 8 } }),
    });
    const job = (await res.json()) as { id: string };
    const getJob = () => fetch(`${server.url}/v1/fine_tuning/jobs/${job.id}`, { headers: { authorization: `Bearer ${server.key}` } }).then((r) => r.json()) as Promise<Record<string, unknown>>;
    const done = await until(getJob, (j) => !['QUEUED', 'VALIDATING', 'STARTED'].includes(String(j.status)), 'validation', 60_000);
    assert.equal(done.status, 'FAILED_VALIDATION');
    const message = JSON.stringify(done);
    assert.match(message, /needs about \d+\.\d GiB on one cpu device even with activation checkpointing/);
    assert.match(message, /but 0\.9 GiB is usable/);
    assert.match(message, /Lower seq_len \(now 8192\) or batch_size \(now 8\)/);
  });
});
