/**
 * Chat completions (reference §5, §6.3) for base and fine-tuned models, in both dialects: one
 * request schema (the union of both SDKs' fields), JSON or `text/event-stream` replies. src/serving
 * renders the prompt, runs the engine and shapes the objects; this file maps them to HTTP.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ChatInputError, ChatRequestError, chatRequestSchema, mistralChatBounds, completeChat, endEventStream, EngineFailure, EnginePool, findModel, newCompletionMeta,
  normaliseChatRequest, openEventStream, type CompletionMeta, renderChunk, renderCompletion, sendEvent, type ChatParams, type ChatRequest, type ChatTarget, type ChoiceDelta,
} from '../../serving/index.ts';
import { dialectOf } from '../dialect.ts';
import { ApiError } from '../errors.ts';
import { parse } from '../parse.ts';
import { chatCompletionReply } from '../reply-schemas.ts';


function toApiError(err: unknown): unknown {
  if (err instanceof ChatInputError || err instanceof ChatRequestError) return new ApiError('invalid_request', { reason: err.message });
  if (err instanceof EngineFailure) return new ApiError('engine_failed', { reason: err.message });
  return err;
}

async function streamCompletion(reply: FastifyReply, params: ChatParams, target: ChatTarget, meta: CompletionMeta): Promise<void> {
  const res = reply.raw;
  const abort = new AbortController();
  res.on('close', () => abort.abort());
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
    const result = await completeChat(params, target, onDelta, abort.signal);
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

export default async function chatRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.atelier;
  const pool = new EnginePool(ctx.settings);
  app.addHook('onClose', () => pool.close());

  app.post('/v1/chat/completions', { config: { docs: { summary: 'Chat completion, streamed as text/event-stream with stream: true', tags: ['chat'], body: chatRequestSchema, response: chatCompletionReply, streamContentType: 'text/event-stream' } } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const dialect = dialectOf(request);
    const body = parse(chatRequestSchema, request.body, 'body');
    if (dialect === 'mistral') parse(mistralChatBounds, request.body, 'body');
    const params = guardedNormalise(body);
    const found = await findModel(ctx.store.db, ctx.settings, request.workspace.id, params.model);
    if (!found) throw new ApiError('model_not_found', { id: params.model }, { param: 'model' });
    const target = found.kind === 'base' ? await pool.target(found.id, null) : await pool.target(found.model.baseModel, found.model.adapterDir);
    const meta = newCompletionMeta(params.model, dialect);
    if (params.stream) return streamCompletion(reply, params, target, meta);
    try {
      const result = await completeChat(params, target);
      return reply.type('application/json; charset=utf-8').send(renderCompletion(meta, result));
    } catch (err) {
      throw toApiError(err);
    }
  });
}
