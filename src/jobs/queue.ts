/**
 * The queue as the estimates see it: jobs holding a device (RUNNING) and jobs ready for one
 * (validated and started: QUEUED with a plan) in claim order; each waiting job's start time comes from the work ahead.
 */
import { listQueuedJobs, type Db, type JobRecord } from '../store/index.ts';
import { estimateStartTimes, type QueuedWork } from './estimates.ts';

function expectedSeconds(job: JobRecord): number {
  const s = job.estimate?.expected_duration_seconds;
  return typeof s === 'number' ? s : 0;
}

/**
 * Start times (Unix seconds) of the jobs not yet running. Jobs still validating or waiting for
 * /start get the time at which everything ready now would have finished. One slot per worker
 * holding a job (at least one).
 */
export async function queueStartTimes(db: Db, now = Math.floor(Date.now() / 1000)): Promise<Map<string, number>> {
  const jobs = await listQueuedJobs(db);
  const running = jobs.filter((j) => j.status === 'RUNNING' || j.status === 'CANCELLATION_REQUESTED');
  const ready = jobs.filter((j) => (j.status === 'QUEUED' || j.status === 'VALIDATED') && j.startRequested && j.plan !== null);
  const work: QueuedWork[] = [
    ...running.map((j) => ({ id: j.id, running: true, remainingSeconds: Math.max(0, expectedSeconds(j) - (now - (j.startedAt ?? now))) })),
    ...ready.map((j) => ({ id: j.id, running: false, remainingSeconds: expectedSeconds(j) })),
  ];
  const slots = Math.max(1, new Set(running.map((j) => j.lockedBy)).size);
  const starts = estimateStartTimes(work, slots, now);
  const drained = Math.max(now, ...[...starts.entries()].map(([id, at]) => at + expectedSeconds(jobs.find((j) => j.id === id) as JobRecord)),
    ...running.map((j) => now + Math.max(0, expectedSeconds(j) - (now - (j.startedAt ?? now)))));
  for (const j of jobs) {
    if (!starts.has(j.id) && !running.includes(j)) starts.set(j.id, drained);
  }
  return starts;
}
