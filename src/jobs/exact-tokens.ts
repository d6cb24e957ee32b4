/**
 * The exact number of tokens a completion job will train, known before it runs: the job's training
 * files are written as token shards (the worker's own cache, so it reuses them) and the trainer's
 * deterministic packing is replayed for the job's steps (trainer/count_tokens.py). The estimate in
 * the job's metadata is then the count the trainer will report as `trained_tokens`.
 */
import { spawn } from 'node:child_process';
import { z } from 'zod';
import type { Settings } from '../settings/index.ts';
import { localFile, type JobRecord, type Store } from '../store/index.ts';
import { ensureShard } from '../data/index.ts';
import { repoRoot, resolvePython, type BaseModel } from '../models/index.ts';
import type { TrainingPlan } from './hyperparameters.ts';

const countReply = z.union([z.object({ trained_tokens: z.number().int().nonnegative() }), z.object({ error: z.string() })]);

/** Runs trainer.count_tokens on `input`; rejects with its error. */
function runCount(python: string, input: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', 'trainer.count_tokens'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('close', () => {
      const parsed = countReply.safeParse(JSON.parse(out.trim().split('\n').pop() || 'null'));
      if (parsed.success && 'trained_tokens' in parsed.data) resolve(parsed.data.trained_tokens);
      else reject(new Error(`counting the job's tokens failed: ${parsed.success && 'error' in parsed.data ? parsed.data.error : err.trim().split('\n').pop()}`));
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** Tokens the trainer will train for this completion job under `plan` (seed and weights as the worker passes them). */
export async function exactTrainTokens(store: Store, settings: Settings, job: Pick<JobRecord, 'workspaceId' | 'trainingFiles' | 'hyperparameters' | 'seed'>, model: BaseModel, plan: TrainingPlan): Promise<number> {
  const train = [];
  for (const f of job.trainingFiles) {
    const { file, path: local } = await localFile(store, job.workspaceId, f.file_id);
    const shard = await ensureShard({ dataDir: settings.dataDir, sourcePath: local, sourceSha256: file.sha256, tokenizerPath: model.tokenizerPath });
    train.push({ shard: shard.dir, weight: f.weight });
  }
  const batchSize = typeof job.hyperparameters.batch_size === 'number' ? job.hyperparameters.batch_size : 1;
  return runCount(resolvePython(settings.python), { train, seq_len: plan.seq_len, batch_size: batchSize, training_steps: plan.training_steps, seed: job.seed ?? 0 });
}
