/**
 * Fine-tuning jobs (reference §2 Mistral, §6.2 OpenAI, §7): create, list, get, start, cancel, and
 * OpenAI's events and checkpoints pages. The body (`training_file` vs `training_files`) or the
 * headers pick the dialect; one stored job is rendered in that dialect's shape. Handlers are thin:
 * src/jobs holds the lifecycle.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  dryRunJob, fromMistralCreate, fromOpenAICreate, JobError, jobStatuses, mistralCreateSchema as mistralCreate, openAICreateSchema as openAICreate, toMistralJob, toMistralJobDetails, toOpenAICheckpoint,
  toOpenAIEvent, toOpenAIJob, type Caller, type JobDetails, type JobErrorKind,
} from '../../jobs/index.ts';
import { hashApiKey, listJobCheckpoints, listJobEvents, type JobFilter, type JobRecord } from '../../store/index.ts';
import { dialectOf, type Dialect } from '../dialect.ts';
import { ApiError, type ErrorCode } from '../errors.ts';
import { jobCheckpointsReply, jobCreateReply, jobDetailsReply, jobEventsReply, jobListReply } from '../reply-schemas.ts';
import { decodeId, parse, queryBool, queryInt } from '../parse.ts';

const createQuery = z.object({
  dry_run: queryBool.nullish().describe('true: validate and estimate only; answers object "job.metadata" and creates nothing'),
});
const isoSeconds = z.iso.datetime({ offset: true }).transform((s) => Math.floor(Date.parse(s) / 1000));
const listQuery = z.object({
  page: queryInt.pipe(z.int().min(0)).default(0),
  page_size: queryInt.pipe(z.int().min(1).max(1000)).default(100),
  model: z.string().optional(),
  created_after: isoSeconds.optional(),
  created_before: isoSeconds.optional(),
  created_by_me: queryBool.default(false),
  status: z.enum(jobStatuses).optional(),
  wandb_project: z.string().optional(),
  wandb_name: z.string().optional(),
  suffix: z.string().optional(),
  after: z.string().optional().describe('OpenAI cursor: id of the last job of the previous page'),
  limit: queryInt.pipe(z.int().min(1).max(1000)).optional().describe('OpenAI page size'),
});
const cursorQuery = z.object({ after: z.string().optional(), limit: queryInt.pipe(z.int().min(1).max(1000)).default(20) });
const idParams = z.object({ job_id: z.string().min(1).transform(decodeId) });

const errorCodeOf: Record<JobErrorKind, ErrorCode> = {
  job_not_found: 'job_not_found', duplicate_job: 'job_conflict', job_wrong_state: 'job_wrong_state',
  unknown_model: 'unknown_model', job_file_not_found: 'file_not_found', invalid_job: 'invalid_job',
};

/** JobError → the registry's code; 409s carry x-should-retry: false (the OpenAI SDK retries 409 otherwise). */
function toApiError(err: unknown): unknown {
  if (!(err instanceof JobError)) return err;
  const code = errorCodeOf[err.kind];
  const headers = code === 'job_conflict' || code === 'job_wrong_state' ? { 'x-should-retry': 'false' } : undefined;
  return new ApiError(code, { reason: err.message, id: err.subject ?? err.param ?? '' }, { param: err.param ?? undefined, headers });
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApiError(err);
  }
}

function callerOf(request: FastifyRequest): Caller {
  const auth = String(request.headers.authorization ?? '');
  return { workspaceId: request.workspace.id, keyHash: auth.startsWith('Bearer ') ? hashApiKey(auth.slice(7).trim()) : null };
}

function metadataFilter(query: unknown): Record<string, string> | undefined {
  const entries = Object.entries(query as Record<string, unknown>).flatMap(([k, v]) => {
    const m = /^metadata\[(.+)\]$/.exec(k);
    return m && typeof v === 'string' ? [[m[1] as string, v] as const] : [];
  });
  return entries.length ? Object.fromEntries(entries) : undefined;
}

function renderDetails(dialect: Dialect, d: JobDetails): Record<string, unknown> {
  return dialect === 'openai' ? toOpenAIJob(d.job) : toMistralJobDetails(d.job, d.startTime, d.events, d.checkpoints);
}

function renderJob(dialect: Dialect, job: JobRecord, startTime: number | null): Record<string, unknown> {
  return dialect === 'openai' ? toOpenAIJob(job) : toMistralJob(job, startTime);
}

export default async function jobRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.atelier;
  const jobs = app.services.jobs;
  const tags = ['fine-tuning'];

  app.post('/v1/fine_tuning/jobs', { config: { docs: { summary: 'Create a fine-tuning job (Mistral or OpenAI body)', tags, query: createQuery, body: z.union([mistralCreate, openAICreate]), response: jobCreateReply } } }, async (request) => {
    const openai = typeof (request.body as { training_file?: unknown } | undefined)?.training_file === 'string';
    const dialect = dialectOf(request, openai ? 'openai' : null);
    const { dry_run } = parse(createQuery, request.query, 'query');
    const spec = await guarded(async () => (openai ? fromOpenAICreate(parse(openAICreate, request.body, 'body')) : fromMistralCreate(parse(mistralCreate, request.body, 'body'))));
    if (dry_run) return guarded(() => dryRunJob(jobs, callerOf(request), spec));
    const job = await guarded(() => jobs.create(callerOf(request), spec));
    return renderJob(dialect, job, null);
  });

  app.get('/v1/fine_tuning/jobs', { config: { docs: { summary: 'List jobs (Mistral page/page_size + filters, or OpenAI after/limit/metadata[k])', tags, query: listQuery, response: jobListReply } } }, async (request) => {
    const q = parse(listQuery, request.query, 'query');
    const caller = callerOf(request);
    const filter: JobFilter = {
      model: q.model, createdAfter: q.created_after, createdBefore: q.created_before, createdBy: q.created_by_me ? (caller.keyHash ?? '') : undefined,
      status: q.status, wandbProject: q.wandb_project, wandbName: q.wandb_name, suffix: q.suffix, metadata: metadataFilter(request.query),
    };
    const cursor = q.after !== undefined || q.limit !== undefined;
    const limit = cursor ? (q.limit ?? 20) : q.page_size;
    const page = await jobs.list(caller, filter, cursor ? { after: q.after, limit: limit + 1 } : { offset: q.page * q.page_size, limit: limit + 1 });
    const dialect = dialectOf(request);
    const data = page.jobs.slice(0, limit).map((j) => renderJob(dialect, j, page.startTimes.get(j.id) ?? null));
    return { object: 'list' as const, data, total: page.total, has_more: page.jobs.length > limit };
  });

  app.get('/v1/fine_tuning/jobs/:job_id', { config: { docs: { summary: 'Get a job with its events and checkpoints', tags, params: idParams, response: jobDetailsReply } } }, async (request) => {
    const { job_id } = parse(idParams, request.params, 'path');
    return renderDetails(dialectOf(request), await guarded(() => jobs.details(callerOf(request), job_id)));
  });

  const act = (name: 'start' | 'cancel') => async (request: FastifyRequest, reply: FastifyReply) => {
    const { job_id } = parse(idParams, request.params, 'path');
    const details = await guarded(() => jobs[name](callerOf(request), job_id));
    return reply.type('application/json; charset=utf-8').send(renderDetails(dialectOf(request), details));
  };
  app.post('/v1/fine_tuning/jobs/:job_id/start', { config: { docs: { summary: 'Start a validated job created with auto_start false (409 in any other state)', tags, params: idParams, response: jobDetailsReply } } }, act('start'));
  app.post('/v1/fine_tuning/jobs/:job_id/cancel', { config: { docs: { summary: 'Cancel a job (its trainer is stopped; 409 once it has ended)', tags, params: idParams, response: jobDetailsReply } } }, act('cancel'));

  app.get('/v1/fine_tuning/jobs/:job_id/events', { config: { docs: { summary: "A job's events, newest first (OpenAI cursor page)", tags, params: idParams, query: cursorQuery, response: jobEventsReply } } }, async (request) => {
    const { job_id } = parse(idParams, request.params, 'path');
    const q = parse(cursorQuery, request.query, 'query');
    const job = await guarded(() => jobs.get(callerOf(request), job_id));
    const events = await listJobEvents(ctx.store.db, job.id, { after: q.after, limit: q.limit + 1 });
    return { object: 'list' as const, data: events.slice(0, q.limit).map(toOpenAIEvent), has_more: events.length > q.limit };
  });

  app.get('/v1/fine_tuning/jobs/:job_id/checkpoints', { config: { docs: { summary: "A job's checkpoints, newest first (OpenAI cursor page)", tags, params: idParams, query: cursorQuery, response: jobCheckpointsReply } } }, async (request) => {
    const { job_id } = parse(idParams, request.params, 'path');
    const q = parse(cursorQuery, request.query, 'query');
    const job = await guarded(() => jobs.get(callerOf(request), job_id));
    const all = await listJobCheckpoints(ctx.store.db, job.id);
    const start = q.after ? all.findIndex((c) => c.id === q.after) + 1 : 0;
    const page = all.slice(start, start + q.limit);
    return { object: 'list' as const, data: page.map((c) => toOpenAICheckpoint(c, job)), has_more: all.length > start + q.limit };
  });
}
