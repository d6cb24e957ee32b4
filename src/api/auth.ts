/**
 * Bearer API keys → workspace. Keys given on the command line / ATELIER_API_KEYS are compared by
 * hash in memory and belong to the default workspace; created keys are looked up by hash in the
 * database. Sets `request.workspace`, or throws 401 in both dialects' shape.
 */
import type { FastifyRequest } from 'fastify';
import { hashApiKey, workspaceIdForKeyHash } from '../store/index.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  return m ? m[1].trim() : null;
}

/** An onRequest hook: public routes pass; every other request needs a valid key. */
export function authHook(ctx: ApiContext) {
  return async function authenticate(request: FastifyRequest): Promise<void> {
    if (request.routeOptions.config?.public) return;
    const token = bearerToken(request);
    if (!token) throw new ApiError('invalid_api_key');
    const hash = hashApiKey(token);
    const workspaceId = ctx.envKeyHashes.has(hash) ? ctx.defaultWorkspaceId : await workspaceIdForKeyHash(ctx.store.db, hash);
    if (!workspaceId) throw new ApiError('invalid_api_key');
    request.workspace = { id: workspaceId };
  };
}
