/** src/worker: the claim loop that runs jobs, classifier shards and the trainer process (completion shards live in src/data). */
export { parseTrainerLine, type TrainerMessage } from './trainer-messages.ts';
export { runClaimedJob, type WorkerContext } from './run-job.ts';
export { newWorkerId, startWorker, type RunningWorker, type WorkerOptions } from './worker-loop.ts';
