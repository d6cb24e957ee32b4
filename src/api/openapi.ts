/**
 * The OpenAPI 3.1 document of every route, built from the zod schemas in each route's
 * `config.docs` (z.toJSONSchema), so routes added later appear without extra work. Every
 * operation has an operationId (given, or derived from method and path) so clients can be
 * generated from it (openapi-typescript is checked in test/e2e/openapi-client.test.ts).
 */
import type { FastifyContextConfig, RouteOptions } from 'fastify';
import { z, type ZodType } from 'zod';

// context.ts declares `config.docs` on Fastify's route config; reading the type from there keeps
// this file free of an import back into context.ts (which imports the registry's type).
type RouteDocs = NonNullable<FastifyContextConfig['docs']>;

type Collected = { method: string; url: string; docs?: RouteDocs; public: boolean };

// Requests are described as clients may send them (defaults optional), replies as sent.
const toSchema = (schema: ZodType, io: 'input' | 'output' = 'input') => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

const camel = (word: string) => word.replace(/(?:^|[_-])(\w)/g, (_, c: string) => c.toUpperCase());

/** `get /v1/fine_tuning/jobs/:job_id/events` → `getFineTuningJobsByJobIdEvents`. */
export function deriveOperationId(method: string, url: string): string {
  const words = url.split('/').filter((w) => w && w !== 'v1').map((w) => (w.startsWith(':') ? `By${camel(w.slice(1))}` : camel(w)));
  return method.toLowerCase() + words.join('').replace(/[^A-Za-z0-9]/g, '');
}

function parameters(schema: ZodType | undefined, where: 'path' | 'query') {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, ZodType>).map(([name, field]) => ({
    name,
    in: where,
    required: where === 'path' || !field.safeParse(undefined).success,
    schema: z.toJSONSchema(field, { io: 'output', unrepresentable: 'any' }),
  }));
}

function operation(route: Collected) {
  const docs = route.docs;
  const op: Record<string, unknown> = { operationId: docs?.operationId ?? deriveOperationId(route.method, route.url), summary: docs?.summary ?? `${route.method} ${route.url}` };
  if (docs?.tags) op.tags = docs.tags;
  const params = [...parameters(docs?.params, 'path'), ...parameters(docs?.query, 'query')];
  if (params.length) op.parameters = params;
  if (docs?.body) op.requestBody = { required: true, content: { [docs.bodyContentType ?? 'application/json']: { schema: toSchema(docs.body) } } };
  const content: Record<string, unknown> | undefined = docs?.response ? { [docs.responseContentType ?? 'application/json']: { schema: toSchema(docs.response, 'output') } } : undefined;
  if (content && docs?.streamContentType) content[docs.streamContentType] = { schema: { type: 'string', description: 'server-sent events (stream: true)' } };
  else if (!content && docs?.responseContentType) op.responses = { '200': { description: 'OK', content: { [docs.responseContentType]: { schema: { type: 'string', format: 'binary' } } } } };
  const ok = (op.responses as { '200'?: unknown } | undefined)?.['200'] ?? { description: 'OK', ...(content ? { content } : {}) };
  op.responses = { '200': ok, default: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } };
  if (route.public) op.security = [];
  return op;
}

const errorSchema = {
  type: 'object',
  required: ['object', 'message', 'type', 'param', 'code', 'error'],
  properties: {
    object: { const: 'error' },
    message: { type: 'string' },
    type: { type: 'string' },
    param: { type: ['string', 'null'] },
    code: { type: 'string' },
    detail: { type: 'array', items: { type: 'object', properties: { loc: { type: 'array' }, msg: { type: 'string' }, type: { type: 'string' } } } },
    error: { type: 'object' },
  },
};

/** Collects routes as Fastify registers them (an onRoute hook) and renders the document. */
export class OpenApiRegistry {
  readonly #routes: Collected[] = [];

  onRoute = (route: RouteOptions): void => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    for (const method of methods) {
      this.#routes.push({ method: method.toLowerCase(), url: route.url, docs: route.config?.docs, public: Boolean(route.config?.public) });
    }
  };

  document(version: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of this.#routes) {
      const url = route.url.replace(/:(\w+)/g, '{$1}');
      (paths[url] ??= {})[route.method] = operation(route);
    }
    return {
      openapi: '3.1.0',
      info: { title: 'Atelier', version, description: "Mistral's (and OpenAI's) fine-tuning API, self-hosted." },
      paths,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: { Error: errorSchema } },
      security: [{ bearer: [] }],
    };
  }
}
