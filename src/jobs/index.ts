/** src/jobs: the job state machine, both dialects' shapes, estimates, the queue, and the jobs service. */
export { activeStatuses, canTransition, isTerminal, jobStatuses, jobStatusSchema, toOpenAIStatus, type JobStatus, type OpenAIStatus } from '../store/index.ts';
export * from './hyperparameters.ts';
export * from './estimates.ts';
export * from './model-id.ts';
export * from './render.ts';
export { queueStartTimes } from './queue.ts';
export { allowedInvalidFraction, validateJobFiles, type FileCounts, type JobFile, type ValidationOutcome } from './validation.ts';
export { dedupeKey, JobError, JobsService, type Caller, type JobDetails, type JobErrorKind, type JobSpec } from './service.ts';
export { dryRunJob } from './dry-run.ts';
export * from './memory-plan.ts';
export { planJobMemory, describeMemory, type JobMemory, type MemoryEstimate } from './job-memory.ts';
export { deviceMemory, visibleGpuTotals, type DeviceMemory } from './device-memory.ts';
export * from './requests.ts';
export { toMetricsRow, toResultsCsv, resultsCsvColumns, type MetricsRow } from './metrics.ts';
