/** src/worker: token shards, the trainer process, and the claim loop that runs jobs. */
export { ensureShard, shardKey, sha256File, type ShardInfo } from '../data/index.ts';
export { parseTrainerLine, type TrainerMessage } from './trainer-messages.ts';
export { runClaimedJob, type WorkerContext } from './run-job.ts';
export { newWorkerId, startWorker, type RunningWorker, type WorkerOptions } from './worker-loop.ts';
