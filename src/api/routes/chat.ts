/**
 * Chat completions (reference §5, §6.3) for base and fine-tuned models, in both dialects: one
 * request schema (the union of both SDKs' fields), JSON or `text/event-stream` replies. src/serving
 * renders the prompt, runs the engine and shapes the objects; this file maps them to HTTP.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ChatInputError, ChatRequestError, chatRequestSchema, mistralChatBounds, completeChat, endEventStream, EngineFailure, loadChatImages, newCompletionMeta,
  normaliseChatRequest, openEventStream, type CompletionMeta, renderChunk, renderCompletion, sendEvent, type ChatParams, type ChatRequest, type ChatTarget, type ChoiceDelta,
} from '../../serving/index.ts';
import type { EnginePool } from '../../serving/index.ts';
import { findModel } from '../../models/index.ts';
import { checkChatLimits } from '../chat-limits.ts';
import type { ApiContext } from '../context.ts';
import { dialectOf } from '../dialect.ts';
import { ApiError } from '../errors.ts';
import { parse } from '../parse.ts';
import { chatCompletionReply } from '../reply-schemas.ts';

function toApiError(err: unknown): unknown {
  if (err instanceof ChatRequestError) return new ApiError('invalid_request', { reason: err.message }, err.param ? { param: err.param } : {});
  if (err instanceof ChatInputError) return new ApiError('invalid_request', { reason: err.message });
  if (err instanceof EngineFailure) return new ApiError('engine_failed', { reason: err.message });
  return err;
}

/**
 * Aborted when the client goes away before its reply is complete, so the engine stops generating
 * for nobody. Listened to from the start of the request: a client gone while the engine was still
 * starting must not be missed.
 */
function clientGone(reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  const res = reply.raw;
  if (res.destroyed) abort.abort();
  else res.once('close', () => !res.writableFinished && abort.abort());
  return abort.signal;
}

async function streamCompletion(reply: FastifyReply, params: ChatParams, target: ChatTarget, meta: CompletionMeta, gone: AbortSignal, images: string[]): Promise<void> {
  const res = reply.raw;
  const started = new Set<number>();
  const finals: ChoiceDelta[] = [];
  const onDelta = (d: ChoiceDelta) => {
    if ('finishReason' in d) return void finals.push(d); // sent after the last token, the last one with usage
    if (!started.has(d.index)) openEventStreamOnce();
    sendEvent(res, renderChunk(meta, d, !started.has(d.index)));
    started.add(d.index);
  };
  let open = false;
  const openEventStreamOnce = () => {
    if (!open) openEventStream(res);
    open = true;
  };
  reply.hijack();
  try {
    const result = await completeChat(params, target, onDelta, gone, images);
    openEventStreamOnce();
    finals.forEach((d, i) => sendEvent(res, renderChunk(meta, d, !started.has(d.index), i === finals.length - 1 ? result.usage : undefined)));
    endEventStream(res);
  } catch (err) {
    sendStreamError(reply, err, open);
  }
}

function guardedNormalise(body: ChatRequest): ChatParams {
  try {
    return normaliseChatRequest(body);
  } catch (err) {
    throw toApiError(err);
  }
}

/** The request's images as base64 (400 naming the chunk when the model or the image is not fit). */
async function guardedImages(params: ChatParams, target: ChatTarget, settings: ApiContext['settings']): Promise<string[]> {
  try {
    return await loadChatImages(params.images, { id: params.model, vision: target.vision }, settings);
  } catch (err) {
    throw toApiError(err);
  }
}

/** A failed streamed completion: a JSON error reply before the first event, else an error event that ends the stream. */
function sendStreamError(reply: FastifyReply, err: unknown, streamOpen: boolean): void {
  const res = reply.raw;
  const apiError = toApiError(err);
  const body = apiError instanceof ApiError ? apiError.toBody() : new ApiError('internal_error', { requestId: reply.request.id }).toBody();
  if (!streamOpen) {
    res.writeHead(apiError instanceof ApiError ? apiError.status : 500, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
    return;
  }
  sendEvent(res, body); // the OpenAI SDK throws a chunk with a top-level `error`; Mistral's fails to parse it
  endEventStream(res, false);
}

/** A completion as one JSON reply. */
async function sendCompletion(reply: FastifyReply, params: ChatParams, target: ChatTarget, meta: CompletionMeta, gone: AbortSignal, images: string[]): Promise<FastifyReply> {
  try {
    const result = await completeChat(params, target, undefined, gone, images);
    return reply.type('application/json; charset=utf-8').send(renderCompletion(meta, result));
  } catch (err) {
    throw toApiError(err);
  }
}

/** The engine target of a chat model: a base model or a fine-tuned completion model; 404 when absent, 400 for a classifier. */
async function chatTarget(ctx: ApiContext, pool: EnginePool, workspaceId: string, model: string): Promise<ChatTarget> {
  const found = await findModel(ctx.store.db, ctx.settings, workspaceId, model);
  if (!found) throw new ApiError('model_not_found', { id: model }, { param: 'model' });
  if (found.kind === 'base') return pool.target(found.id, null);
  if (found.model.modelType === 'classifier') {
    // Its adapter has a classification head, not a language-model one: chat would answer with noise.
    throw new ApiError('model_wrong_type', { id: model, type: 'classifier', use: 'use it with POST /v1/classifications or /v1/moderations, not chat completions.' }, { param: 'model' });
  }
  return pool.target(found.model.baseModel, found.model.adapterDir);
}

export default async function chatRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.atelier;
  const pool = app.services.engines;
  app.serverMetrics.gauge('atelier_engine_slots_in_use', 'Chat requests in the serving engines (decoding or waiting for a row).', () => [{ value: pool.slots().inUse }]);
  app.serverMetrics.gauge('atelier_engine_slots', 'Rows the started serving engines can decode together.', () => [{ value: pool.slots().capacity }]);

  app.post('/v1/chat/completions', { config: { docs: { summary: 'Chat completion, streamed as text/event-stream with stream: true', tags: ['chat'], body: chatRequestSchema, response: chatCompletionReply, streamContentType: 'text/event-stream' } } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const gone = clientGone(reply);
    const dialect = dialectOf(request);
    const body = parse(chatRequestSchema, request.body, 'body');
    if (dialect === 'mistral') parse(mistralChatBounds, request.body, 'body');
    checkChatLimits(body, ctx.settings);
    const params = guardedNormalise(body);
    const target = await chatTarget(ctx, pool, request.workspace.id, params.model);
    const images = await guardedImages(params, target, ctx.settings);
    const meta = newCompletionMeta(params.model, dialect);
    return params.stream ? streamCompletion(reply, params, target, meta, gone, images) : sendCompletion(reply, params, target, meta, gone, images);
  });
}
