/** src/worker: base models, token shards, the trainer process, and the claim loop that runs jobs. */
export { builtInModelId, listBaseModelIds, resolveBaseModel, UnknownBaseModelError, type BaseModel } from './base-models.ts';
export { resolvePython, repoRoot } from './python.ts';
export { ensureShard, shardKey, sha256File, type ShardInfo } from './shards.ts';
export { parseTrainerLine, type TrainerMessage } from './trainer-messages.ts';
export { runClaimedJob, type WorkerContext } from './run-job.ts';
export { newWorkerId, startWorker, type RunningWorker, type WorkerOptions } from './worker-loop.ts';
export { withoutPaths } from './trainer-failure.ts';
