/** How a job status reads and looks, in one place for the list and the job page. */
import { badge } from './dom.ts';
import type { Job, JobStatus } from './schemas.ts';

export const endedStatuses: JobStatus[] = ['SUCCESS', 'FAILED', 'FAILED_VALIDATION', 'CANCELLED'];

/** True while the job waits for POST /start (created with auto_start false). */
export function waitsForStart(job: Job): boolean {
  return !job.auto_start && ['QUEUED', 'STARTED', 'VALIDATING', 'VALIDATED'].includes(job.status);
}

const tones: Record<JobStatus, 'ok' | 'bad' | 'busy' | 'idle' | 'warn'> = {
  QUEUED: 'busy', STARTED: 'busy', VALIDATING: 'busy', VALIDATED: 'busy', RUNNING: 'busy', CANCELLATION_REQUESTED: 'warn',
  SUCCESS: 'ok', FAILED: 'bad', FAILED_VALIDATION: 'bad', CANCELLED: 'idle',
};

/** The status badge; a validated job waiting for /start says so. */
export function statusBadge(job: Job): HTMLElement {
  if (job.status === 'VALIDATED' && !job.auto_start) return badge('VALIDATED · ready to start', 'warn');
  return badge(job.status.replace(/_/g, ' '), tones[job.status]);
}
