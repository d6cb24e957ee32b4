/**
 * What route plugins can reach: `app.atelier` (settings, store, signer, hooks) and, after auth,
 * `request.workspace`. Route options may carry `config.docs` (OpenAPI, from zod schemas) and
 * `config.public` (no API key needed).
 */
import type { ZodType } from 'zod';
import type { Settings } from '../settings/index.ts';
import type { FileRecord, Store } from '../store/index.ts';
import type { JobsService } from '../jobs/index.ts';
import type { EnginePool } from '../serving/index.ts';
import type { OpenApiRegistry } from './openapi.ts';
import type { UrlSigner } from './signing.ts';

export type ApiHooks = {
  /** Called (not awaited) after a new fine-tune file is stored; background validation plugs in here. */
  onFileUploaded?: (file: FileRecord) => Promise<void>;
};

export type ApiContext = {
  settings: Settings;
  store: Store;
  signer: UrlSigner;
  /** sha256 of the keys given by --api-key / ATELIER_API_KEYS. */
  envKeyHashes: ReadonlySet<string>;
  /** The workspace those keys belong to. */
  defaultWorkspaceId: string;
  hooks: ApiHooks;
};

/** What the composition root (compose.ts) builds once per app and routes share as `app.services`. */
export type Services = {
  /** Job lifecycle (create, validate, cancel, ...). */
  jobs: JobsService;
  /** One engine process per base model (generation and classification), started on first use. */
  engines: EnginePool;
};

/** OpenAPI description of a route, from the same zod schemas the handler parses with. */
export type RouteDocs = {
  summary: string;
  /** Default: derived from method and path (openapi.ts deriveOperationId). */
  operationId?: string;
  tags?: string[];
  params?: ZodType;
  query?: ZodType;
  body?: ZodType;
  /** Default application/json. */
  bodyContentType?: string;
  response?: ZodType;
  /** Default application/json. */
  responseContentType?: string;
  /** A second 200 content type for streamed replies (chat: text/event-stream). */
  streamContentType?: string;
};

declare module 'fastify' {
  interface FastifyInstance {
    atelier: ApiContext;
    /** Services and process pools built once by the composition root (compose.ts). */
    services: Services;
    openapi: OpenApiRegistry;
  }
  interface FastifyRequest {
    /** The caller's workspace, set by the auth hook (absent on public routes). */
    workspace: { id: string };
  }
  interface FastifyContextConfig {
    docs?: RouteDocs;
    public?: boolean;
  }
}
