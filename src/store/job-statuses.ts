/**
 * The job state machine: Mistral's ten statuses (reference/mistral-api.md §2.5), the transitions
 * Atelier allows (transitionJob refuses any other), the status lists the queries use (derived from
 * the enum, not written as SQL literals), and how each status reads in the OpenAI dialect (§7). A job
 * reads VALIDATED only while it waits for /start; once started (or with auto_start) it moves on at
 * once to QUEUED, so a started job and one never started never look alike.
 */
import { z } from 'zod';

/** In the SDK's enum order (1.15.1 rejects any other value). */
export const jobStatuses = [
  'QUEUED',
  'STARTED',
  'VALIDATING',
  'VALIDATED',
  'RUNNING',
  'FAILED_VALIDATION',
  'FAILED',
  'SUCCESS',
  'CANCELLED',
  'CANCELLATION_REQUESTED',
] as const;
export const jobStatusSchema = z.enum(jobStatuses);
export type JobStatus = z.infer<typeof jobStatusSchema>;

const terminalStatuses: readonly JobStatus[] = ['SUCCESS', 'FAILED', 'FAILED_VALIDATION', 'CANCELLED'];

/** The path of a job that succeeds; the lists below are its prefixes. */
const happyPath: readonly JobStatus[] = ['QUEUED', 'STARTED', 'VALIDATING', 'VALIDATED', 'RUNNING', 'SUCCESS'];
const before = (status: JobStatus): readonly JobStatus[] => happyPath.slice(0, happyPath.indexOf(status));

/** Statuses in which an identical job counts as a duplicate (409 on create). */
export const activeStatuses: readonly JobStatus[] = before('SUCCESS');
/** Statuses whose validation has not finished (resumed when the server starts). */
export const unvalidatedStatuses: readonly JobStatus[] = before('VALIDATED');
/** Statuses in which a start request is recorded (the job has not run yet). */
export const startableStatuses: readonly JobStatus[] = before('RUNNING');
/** Statuses a started, validated job waits in for a worker (claimed only once it has a plan). */
export const claimableStatuses: readonly JobStatus[] = ['QUEUED', 'VALIDATED'];
/** Statuses of a job a worker holds (claimed again when its heartbeat stops). */
export const heldStatuses: readonly JobStatus[] = ['RUNNING', 'CANCELLATION_REQUESTED'];
/** Every status that is not terminal: jobs waiting for or holding a device. */
export const openStatuses: readonly JobStatus[] = jobStatuses.filter((s) => !terminalStatuses.includes(s));

const transitions: Record<JobStatus, readonly JobStatus[]> = {
  // QUEUED twice over: a new job waits for validation (→ STARTED), a validated and started job
  // waits for a worker (→ RUNNING).
  QUEUED: ['STARTED', 'RUNNING', 'CANCELLATION_REQUESTED'],
  STARTED: ['VALIDATING', 'FAILED', 'CANCELLATION_REQUESTED'],
  // VALIDATING -> VALIDATING: validation interrupted by a restart starts over (a new status event).
  VALIDATING: ['VALIDATING', 'VALIDATED', 'FAILED_VALIDATION', 'FAILED', 'CANCELLATION_REQUESTED'],
  VALIDATED: ['QUEUED', 'RUNNING', 'CANCELLATION_REQUESTED'],
  RUNNING: ['SUCCESS', 'FAILED', 'CANCELLATION_REQUESTED'],
  CANCELLATION_REQUESTED: ['CANCELLED', 'FAILED'],
  FAILED_VALIDATION: [],
  FAILED: [],
  SUCCESS: [],
  CANCELLED: [],
};

/** True when a job may move from `from` to `to`. */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return transitions[from].includes(to);
}

/** A move the state table does not allow (a bug in the caller, not a race: races return null). */
export class IllegalTransitionError extends Error {
  constructor(readonly from: JobStatus, readonly to: JobStatus) {
    super(`a job may not move from ${from} to ${to}`);
  }
}

/** True for SUCCESS, FAILED, FAILED_VALIDATION and CANCELLED. */
export function isTerminal(status: JobStatus): boolean {
  return terminalStatuses.includes(status);
}

const openAIStatuses = ['validating_files', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type OpenAIStatus = (typeof openAIStatuses)[number];

/** The OpenAI dialect's name for a status (reference §7; CANCELLATION_REQUESTED reads as running until the trainer stops). */
export function toOpenAIStatus(status: JobStatus): OpenAIStatus {
  switch (status) {
    case 'QUEUED':
    case 'STARTED':
    case 'VALIDATED':
      return 'queued';
    case 'VALIDATING':
      return 'validating_files';
    case 'RUNNING':
    case 'CANCELLATION_REQUESTED':
      return 'running';
    case 'SUCCESS':
      return 'succeeded';
    case 'FAILED':
    case 'FAILED_VALIDATION':
      return 'failed';
    case 'CANCELLED':
      return 'cancelled';
  }
}
