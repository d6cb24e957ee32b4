/**
 * Which SDK dialect a request speaks (reference §7). Both SDKs call the same paths; the OpenAI SDK
 * sends `x-stainless-*` headers and `User-Agent: OpenAI/JS …`, the Mistral SDK neither. A POST
 * body can settle it (e.g. `training_file` vs `training_files`): pass a verdict from the body.
 */
import type { FastifyRequest } from 'fastify';

export type Dialect = 'mistral' | 'openai';

/** The request's dialect: `fromBody` wins when given, then the headers; Mistral when unsure. */
export function dialectOf(request: Pick<FastifyRequest, 'headers'>, fromBody?: Dialect | null): Dialect {
  if (fromBody) return fromBody;
  const headers = request.headers;
  if (Object.keys(headers).some((h) => h.startsWith('x-stainless-'))) return 'openai';
  const agent = String(headers['user-agent'] ?? '');
  if (/^openai\//i.test(agent)) return 'openai';
  return 'mistral';
}
