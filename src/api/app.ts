/**
 * Builds the Fastify app: content-type parsers (JSON with any charset, an empty POST, multipart
 * streamed by @fastify/multipart), the auth hook, the one error handler, the OpenAPI collector and
 * the route plugins (routes/index.ts plus any extra ones). No port is opened here, so tests can
 * drive it with `app.inject`.
 */
import multipart from '@fastify/multipart';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { FileTooLargeError } from '../store/index.ts';
import { authHook } from './auth.ts';
import { composeServices } from './compose.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';
import { nulGuard } from './nul-bytes.ts';
import { OpenApiRegistry } from './openapi.ts';
import { routes } from './routes/index.ts';

export type BuildOptions = {
  /** Route plugins registered after the built-in ones (jobs, models, chat, ...). */
  extraRoutes?: FastifyPluginAsync[];
  /** Fastify's logger option (`{level, stream}` or a boolean); default off. */
  logger?: FastifyServerOptions['logger'];
};

// JSON request bodies (chat, jobs) are small; uploads go through multipart, not this limit.
const jsonBodyLimit = 32 * 1024 * 1024;

function parseJson(_req: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void): void {
  // The Mistral SDK's cancel/start send no body; some clients still send the JSON content type.
  if (body.trim() === '') return done(null, undefined);
  try {
    done(null, JSON.parse(body));
  } catch (err) {
    done(new ApiError('invalid_json', { reason: err instanceof Error ? err.message : 'unparsable' }));
  }
}

/** Maps what Fastify and its plugins throw to registered codes; unknown errors become 500. */
function toApiError(err: FastifyError | Error, request: FastifyRequest): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof FileTooLargeError) return new ApiError('file_too_large', { maxBytes: err.maxBytes });
  const code = (err as FastifyError).code;
  const status = (err as FastifyError).statusCode;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') {
    const expected = code === 'FST_INVALID_MULTIPART_CONTENT_TYPE' ? "multipart/form-data with a 'file' part" : 'application/json or multipart/form-data';
    return new ApiError('unsupported_media_type', { contentType: String(request.headers['content-type'] ?? ''), expected });
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ApiError('body_too_large');
  if (code === 'FST_ERR_MAX_PARAM_LENGTH') return new ApiError('uri_too_long', { max: request.server.atelier.settings.maxPathParamLength });
  if (typeof status === 'number' && status >= 400 && status < 500) return new ApiError('invalid_request', { reason: err.message });
  return new ApiError('internal_error', { requestId: request.id });
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (oversized headers, garbage
 * request lines): answered in the API's error shape rather than Fastify's, then the socket closes.
 */
function sendClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error = err.code === 'HPE_HEADER_OVERFLOW' ? new ApiError('headers_too_large') : new ApiError('invalid_request', { reason: 'The HTTP request could not be parsed.' });
  const body = JSON.stringify(error.toBody());
  // Node's own handler checks this too: data after a request that was answered (e.g. a body
  // the parser did not expect) must not get a second response on the same socket.
  const answered = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (socket.writable && !answered) {
    socket.write(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

function sendError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const apiError = toApiError(err, request);
  if (apiError.status >= 500) request.log.error({ err, reqId: request.id }, 'request failed');
  if (apiError.extra.headers) reply.headers(apiError.extra.headers);
  return reply.status(apiError.status).type('application/json; charset=utf-8').send(apiError.toBody());
}

/** Creates the app around a context; `await app.ready()` (or listen) before use. */
export async function buildApp(ctx: ApiContext, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: jsonBodyLimit,
    forceCloseConnections: true,
    return503OnClosing: true,
    genReqId: () => `req_${Math.random().toString(36).slice(2, 12)}`,
    routerOptions: { maxParamLength: ctx.settings.maxPathParamLength },
    // Bad URL encodings and over-long ids are answered by the router itself unless handed back here.
    frameworkErrors: sendError,
    clientErrorHandler: sendClientError,
  });
  app.decorate('atelier', ctx);
  app.decorate('services', composeServices(app, ctx));
  const openapi = new OpenApiRegistry();
  app.decorate('openapi', openapi);
  // null until the auth hook sets it (Fastify forbids a shared object as the initial value).
  app.decorateRequest('workspace', null as unknown as { id: string });
  app.addHook('onRoute', openapi.onRoute);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson);
  await app.register(multipart, { throwFileSizeLimit: false });

  app.addHook('onRequest', authHook(ctx));
  app.addHook('preHandler', nulGuard);
  app.setErrorHandler(sendError);
  app.setNotFoundHandler({}, (request, reply) => sendError(new ApiError('route_not_found', { method: request.method, url: request.url.split('?')[0] }), request, reply));
  for (const plugin of [...routes, ...(opts.extraRoutes ?? [])]) await app.register(plugin);
  return app;
}
