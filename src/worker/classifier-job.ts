/**
 * What a classifier job adds to the completion path in run-job.ts: its shards (with labels.json),
 * the `task: "classifier"` block of the trainer config, and the recipe module that trains it.
 */
import { classifierTargetSchema } from '../data/index.ts';
import type { JobRecord } from '../store/index.ts';
import { ensureClassifierShard, shardTargets, type ShardTarget } from './classifier-shards.ts';
import type { ShardInfo } from '../data/index.ts';

export const classifierTrainerModule = 'trainer.train_classifier';

type ShardSource = { dataDir: string; sourcePath: string; sourceSha256: string; tokenizerPath: string };

/** The job's targets as stored (validated at create time; parsed again here, at the DB edge). */
function jobTargets(job: JobRecord): ShardTarget[] {
  const parsed = classifierTargetSchema.array().min(1).safeParse(job.classifierTargets);
  if (!parsed.success) throw new Error(`classifier job ${job.id} has no valid classifier_targets`);
  return shardTargets(parsed.data);
}

/** The shard writer of a classifier job: completion shard files plus labels.json for its targets. */
export function classifierShardWriter(job: JobRecord): (p: ShardSource) => Promise<ShardInfo> {
  const targets = jobTargets(job);
  return (p) => ensureClassifierShard({ ...p, targets });
}

/** The trainer config fields of a classifier job: task and targets with their weights. */
export function classifierTrainerFields(job: JobRecord): { task: 'classifier'; classifier: { targets: (ShardTarget & { weight: number })[] } } {
  const weights = new Map((job.classifierTargets ?? []).map((t) => [t.name, typeof t.weight === 'number' ? t.weight : 1]));
  return { task: 'classifier', classifier: { targets: jobTargets(job).map((t) => ({ ...t, weight: weights.get(t.name) ?? 1 })) } };
}
