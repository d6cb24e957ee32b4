/** Health check and the OpenAPI document: public routes about the server itself. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

const health = z.object({ status: z.literal('ok') });
const openApiDocument = z.record(z.string(), z.unknown()).describe('an OpenAPI 3.1 document');

export default async function metaRoutes(app: FastifyInstance): Promise<void> {
  app.get('/health', { config: { public: true, docs: { summary: 'Answers 200 once the server is ready', tags: ['meta'], response: health } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get('/v1/openapi.json', { config: { public: true, docs: { summary: 'This OpenAPI document', tags: ['meta'], response: openApiDocument } } }, async () =>
    app.openapi.document(process.env.npm_package_version ?? '0.1.0'),
  );
}
