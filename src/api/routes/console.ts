/**
 * The web console (docs/console.md): its page at `/` and its built assets under `/assets/`, both
 * public (the page asks for an API key and sends it as a Bearer token to /v1, which keeps its auth).
 * Without a build, `/` answers a short page saying how to build it.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { notBuiltPage, readConsoleAsset, readConsoleIndex } from '../console-assets.ts';
import { ApiError } from '../errors.ts';
import { parse } from '../parse.ts';

const tags = ['console'];
const assetParams = z.object({ name: z.string().min(1) });

// The page only talks to its own origin; the key in localStorage is worth keeping from injected scripts.
const securityHeaders = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export default async function consoleRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', { config: { public: true, docs: { summary: 'The web console (HTML)', tags, responseContentType: 'text/html' } } }, async (_request, reply) => {
    const page = await readConsoleIndex();
    return reply.headers(securityHeaders).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(page ?? notBuiltPage);
  });

  const assetDocs = { summary: "The web console's built scripts and styles", tags, params: assetParams, responseContentType: 'text/javascript' };
  app.get('/assets/:name', { config: { public: true, docs: assetDocs } }, async (request, reply) => {
    const { name } = parse(assetParams, request.params, 'path');
    const asset = await readConsoleAsset(name);
    if (!asset) throw new ApiError('route_not_found', { method: 'GET', url: `/assets/${name}` });
    // Names carry a content hash, so a changed file is a new URL.
    return reply.headers(securityHeaders).header('cache-control', 'public, max-age=31536000, immutable').type(asset.contentType).send(asset.body);
  });
}
