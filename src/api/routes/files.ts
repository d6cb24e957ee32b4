/**
 * Files (reference §1 Mistral, §6.1 OpenAI): upload, list, retrieve, delete, download and signed
 * URLs. Every reply is the superset object both SDKs parse; every file is scoped to the caller's
 * workspace (another workspace's file is a 404).
 */
import { finished } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  commitUpload,
  deleteFile,
  FileTooLargeError,
  getFile,
  listFiles,
  sanitizeFilename,
  stageUpload,
  type FileRecord,
  type StagedBytes,
} from '../../store/index.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { rejectNul } from '../nul-bytes.ts';
import { parse, queryArray, queryBool, queryInt } from '../parse.ts';

// Mistral's purposes and OpenAI's, one enum (reference §1.1, §6.1).
const purposes = ['fine-tune', 'batch', 'ocr', 'assistants', 'vision', 'user_data', 'evals'] as const;

const fileObject = z.object({
  id: z.string(),
  object: z.literal('file'),
  bytes: z.int(),
  created_at: z.int(),
  filename: z.string(),
  purpose: z.string(),
  sample_type: z.string(),
  source: z.string(),
  num_lines: z.int().nullable(),
  mimetype: z.string().nullable(),
  signature: z.string().nullable().describe('sha256 of the bytes (hex)'),
  expires_at: z.int().nullable(),
  visibility: z.string(),
  status: z.enum(['uploaded', 'processed', 'error']).describe("OpenAI's processing status: processed once dataset validation has run"),
  status_details: z.string().nullable(),
  deleted: z.boolean(),
  validation: z.unknown().nullable().describe('Dataset validation report {lines, valid_lines, errors, stats} for fine-tune files, once it has run'),
});
type FileObject = z.infer<typeof fileObject>;

const uploadForm = z.object({
  file: z.string().describe('the bytes (binary part)'),
  purpose: z.enum(purposes).default('fine-tune'),
  visibility: z.enum(['workspace', 'user']).default('workspace'),
  expiry: z.coerce.number().int().positive().optional().describe('hours until the file expires (Mistral)'),
  'expires_after[anchor]': z.literal('created_at').optional(),
  'expires_after[seconds]': z.coerce.number().int().positive().optional().describe('seconds until the file expires (OpenAI)'),
});
const uploadFields = uploadForm.omit({ file: true });

const listQuery = z.object({
  page: queryInt.pipe(z.int().min(0)).default(0),
  page_size: queryInt.pipe(z.int().min(1).max(10000)).default(100),
  include_total: queryBool.default(true),
  sample_type: queryArray(z.string()),
  source: queryArray(z.string()),
  mimetypes: queryArray(z.string()),
  search: z.string().optional(),
  purpose: z.string().optional(),
  after: z.string().optional().describe('OpenAI cursor: id of the last file of the previous page'),
  limit: queryInt.pipe(z.int().min(1).max(10000)).optional().describe('OpenAI page size'),
  order: z.enum(['asc', 'desc']).default('desc'),
});

const fileList = z.object({
  object: z.literal('list'),
  data: z.array(fileObject),
  total: z.int().nullable(),
  has_more: z.boolean(),
  first_id: z.string().nullable(),
  last_id: z.string().nullable(),
});

const idParams = z.object({ file_id: z.string().min(1) });
const deleted = z.object({ id: z.string(), object: z.literal('file'), deleted: z.literal(true) });
const urlQuery = z.object({ expiry: queryInt.pipe(z.int().min(1)).default(24).describe('hours the URL stays valid') });
const signedQuery = z.object({ workspace: z.string(), expires: queryInt, signature: z.string() });

function renderFile(f: FileRecord): FileObject {
  return {
    id: f.id,
    object: 'file',
    bytes: f.bytes,
    created_at: f.createdAt,
    filename: f.filename,
    purpose: f.purpose,
    sample_type: f.sampleType,
    source: f.source,
    num_lines: f.numLines,
    mimetype: f.mimetype,
    signature: f.sha256,
    expires_at: f.expiresAt,
    visibility: f.visibility,
    status: f.status,
    status_details: null,
    deleted: false,
    validation: f.validation ?? null,
  };
}

type UploadForm = { staged: StagedBytes | null; filename: string; mimetype: string; fields: Record<string, string> };

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  stream.resume();
  await finished(stream);
}

/** Reads the multipart form, streaming the `file` part into blob storage; drains the rest so a 413 reaches the client. */
async function readUploadForm(request: FastifyRequest, ctx: ApiContext): Promise<UploadForm> {
  const max = ctx.settings.maxFileBytes;
  const form: UploadForm = { staged: null, filename: '', mimetype: '', fields: {} };
  let tooLarge: FileTooLargeError | null = null;
  try {
    // busboy stops writing at max + 1 bytes and discards the rest of the part; stageUpload sees the excess.
    for await (const part of request.parts({ limits: { fileSize: max + 1, fields: 32, fieldSize: 64 * 1024 } })) {
      if (part.type === 'field') form.fields[part.fieldname] = String(part.value);
      else if (part.fieldname !== 'file' || form.staged || tooLarge) await drain(part.file);
      else {
        try {
          form.staged = await stageUpload(ctx.store.blobs, part.file, max);
          [form.filename, form.mimetype] = [part.filename, part.mimetype];
        } catch (err) {
          if (!(err instanceof FileTooLargeError)) throw err;
          tooLarge = err;
        }
      }
    }
  } catch (err) {
    if (form.staged) await ctx.store.blobs.delete(form.staged.blobKey);
    throw asFormError(err);
  }
  if (tooLarge) throw tooLarge;
  return form;
}

/**
 * busboy reports a malformed body (no boundary, a part cut off, a bad part header) as a plain
 * Error without a code; Fastify's own errors carry a `code` and disk errors an errno `code`, so
 * those stay what they are (a full disk is the server's fault, not the client's).
 */
function asFormError(err: unknown): unknown {
  if (err instanceof Error && err.constructor === Error && !('code' in err)) return new ApiError('invalid_multipart', { reason: err.message });
  return err;
}

const mimetypes: Record<string, string> = { jsonl: 'application/jsonl', json: 'application/json', txt: 'text/plain', csv: 'text/csv', pdf: 'application/pdf' };

// SDKs send raw bytes as application/octet-stream; the extension says more.
function guessMimetype(filename: string, sent: string): string {
  const ext = filename.toLowerCase().split('.').pop() ?? '';
  return sent && sent !== 'application/octet-stream' ? sent : (mimetypes[ext] ?? (sent || 'application/octet-stream'));
}

/** The form's fields, with expiry bounded by the setting fileMaxExpiryHours (an unbounded one overflowed PostgreSQL's bigint: a 500). */
function parseUploadFields(ctx: ApiContext, form: UploadForm): z.output<typeof uploadFields> {
  const hours = ctx.settings.fileMaxExpiryHours;
  const bounded = uploadFields.extend({
    expiry: uploadFields.shape.expiry.pipe(z.int().max(hours).optional()),
    'expires_after[seconds]': uploadFields.shape['expires_after[seconds]'].pipe(z.int().max(hours * 3600).optional()),
  });
  const fields = parse(bounded, form.fields, 'form');
  rejectNul({ file: { filename: form.filename } }, 'form');
  return fields;
}

/** Turns a read form into a file row (or the existing duplicate) and starts background validation; any failure removes the staged bytes. */
async function saveUpload(request: FastifyRequest, ctx: ApiContext, form: UploadForm): Promise<FileRecord> {
  const staged = form.staged;
  if (!staged) throw new ApiError('missing_file');
  let saved: { file: FileRecord; created: boolean };
  try {
    saved = await commitStaged(request, ctx, form, staged);
  } catch (err) {
    await ctx.store.blobs.delete(staged.blobKey);
    throw err;
  }
  const { file, created } = saved;
  const validate = file.purpose === 'fine-tune' && ctx.hooks.onFileUploaded;
  if (created && validate) void validate(file).catch((err: unknown) => request.log.error({ err, fileId: file.id }, 'file validation failed'));
  return file;
}

async function commitStaged(request: FastifyRequest, ctx: ApiContext, form: UploadForm, staged: StagedBytes): Promise<{ file: FileRecord; created: boolean }> {
  const fields = parseUploadFields(ctx, form);
  const filename = sanitizeFilename(form.filename);
  const ttl = fields['expires_after[seconds]'] ?? (fields.expiry ? fields.expiry * 3600 : null);
  const validate = fields.purpose === 'fine-tune' && ctx.hooks.onFileUploaded;
  return commitUpload(ctx.store.db, ctx.store.blobs, staged, {
    workspaceId: request.workspace.id,
    filename,
    purpose: fields.purpose,
    sampleType: fields.purpose === 'batch' ? 'batch_request' : 'instruct',
    source: 'upload',
    mimetype: guessMimetype(filename, form.mimetype),
    visibility: fields.visibility,
    expiresAt: ttl ? Math.floor(Date.now() / 1000) + ttl : null,
    status: validate ? 'uploaded' : 'processed',
  });
}

async function requireFile(ctx: ApiContext, workspaceId: string, id: string): Promise<FileRecord> {
  const file = await getFile(ctx.store.db, workspaceId, id);
  if (!file) throw new ApiError('file_not_found', { id });
  return file;
}

async function sendBytes(reply: FastifyReply, ctx: ApiContext, file: FileRecord): Promise<FastifyReply> {
  const body = await ctx.store.blobs.stream(file.blobKey);
  return reply
    .header('content-type', 'application/octet-stream')
    .header('content-length', file.bytes)
    .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.filename)}`)
    .send(body);
}

/**
 * The base of signed URLs: the configured public URL, else the address the server listens on.
 * Never the request's Host header: anyone can send a forged one and have it signed into the URL.
 */
function publicBase(app: FastifyInstance, ctx: ApiContext): string {
  const configured = ctx.settings.publicUrl.replace(/\/+$/, '');
  if (configured) return configured;
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address : { address: ctx.settings.host, port: ctx.settings.port };
  const host = ['0.0.0.0', '::', ''].includes(bound.address) ? '127.0.0.1' : bound.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${bound.port}`;
}

export default async function filesRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.atelier;
  const tags = ['files'];

  app.post('/v1/files', { config: { docs: { summary: 'Upload a file', tags, body: uploadForm, bodyContentType: 'multipart/form-data', response: fileObject } } }, async (request) =>
    renderFile(await saveUpload(request, ctx, await readUploadForm(request, ctx))),
  );

  app.get('/v1/files', { config: { docs: { summary: 'List files (Mistral page/page_size or OpenAI after/limit)', tags, query: listQuery, response: fileList } } }, async (request) => {
    const q = parse(listQuery, request.query, 'query');
    const cursor = q.after !== undefined || q.limit !== undefined;
    const limit = cursor ? (q.limit ?? 10000) : q.page_size;
    const filter = { purpose: q.purpose, sampleTypes: q.sample_type, sources: q.source, mimetypes: q.mimetypes, search: q.search };
    const offset = cursor ? 0 : q.page * q.page_size;
    const { files, total } = await listFiles(ctx.store.db, request.workspace.id, filter, { order: q.order, limit: limit + 1, offset, after: q.after });
    const data = files.slice(0, limit).map(renderFile);
    const page = { object: 'list' as const, data, total: q.include_total ? total : null, has_more: files.length > limit };
    return { ...page, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  });

  app.get('/v1/files/:file_id', { config: { docs: { summary: 'Retrieve a file', tags, params: idParams, response: fileObject } } }, async (request) => {
    const { file_id } = parse(idParams, request.params, 'path');
    return renderFile(await requireFile(ctx, request.workspace.id, file_id));
  });

  app.delete('/v1/files/:file_id', { config: { docs: { summary: 'Delete a file and its bytes', tags, params: idParams, response: deleted } } }, async (request) => {
    const { file_id } = parse(idParams, request.params, 'path');
    if (!(await deleteFile(ctx.store.db, ctx.store.blobs, request.workspace.id, file_id))) throw new ApiError('file_not_found', { id: file_id });
    return { id: file_id, object: 'file' as const, deleted: true as const };
  });

  const download = { summary: "Download a file's bytes", tags, params: idParams, responseContentType: 'application/octet-stream' };
  app.get('/v1/files/:file_id/content', { config: { docs: download } }, async (request, reply) => {
    const { file_id } = parse(idParams, request.params, 'path');
    return sendBytes(reply, ctx, await requireFile(ctx, request.workspace.id, file_id));
  });

  const urlDocs = { summary: 'A signed, time-limited download URL that needs no API key', tags, params: idParams, query: urlQuery, response: z.object({ url: z.string() }) };
  app.get('/v1/files/:file_id/url', { config: { docs: urlDocs } }, async (request) => {
    const { file_id } = parse(idParams, request.params, 'path');
    const { expiry } = parse(urlQuery.extend({ expiry: urlQuery.shape.expiry.pipe(z.int().max(ctx.settings.signedUrlMaxHours)) }), request.query, 'query');
    const file = await requireFile(ctx, request.workspace.id, file_id);
    const signed = ctx.signer.sign(request.workspace.id, file.id, Math.floor(Date.now() / 1000) + expiry * 3600);
    const base = publicBase(app, ctx);
    const query = new URLSearchParams({ workspace: signed.workspace, expires: String(signed.expires), signature: signed.signature });
    return { url: `${base}/v1/files/${encodeURIComponent(file.id)}/signed-content?${query}` };
  });

  const signedDocs = { summary: 'Download through a signed URL (no API key)', tags, params: idParams, query: signedQuery, responseContentType: 'application/octet-stream' };
  app.get('/v1/files/:file_id/signed-content', { config: { public: true, docs: signedDocs } }, async (request, reply) => {
    const { file_id } = parse(idParams, request.params, 'path');
    const q = signedQuery.safeParse(request.query);
    const verdict = q.success ? ctx.signer.verify(file_id, q.data) : 'invalid';
    if (verdict !== 'ok' || !q.success) throw new ApiError(verdict === 'expired' ? 'signature_expired' : 'signature_invalid', { id: file_id });
    return sendBytes(reply, ctx, await requireFile(ctx, q.data.workspace, file_id));
  });
}
