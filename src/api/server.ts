/**
 * Starting and stopping the whole HTTP server: opens the store, resolves API keys and the signing
 * secret, builds the app and listens. `atelier serve` and the test helper both use startServer;
 * other parts add their routes (`extraRoutes`), hooks and shutdown work (`onClose`).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { ensureBuiltInModels } from '../models/index.ts';
import type { Settings } from '../settings/index.ts';
import { defaultWorkspaceName, ensureWorkspace, hashApiKey, loadOrCreateSecret, openStore, startOrphanSweeps, type Store } from '../store/index.ts';
import { buildApp, type BuildOptions } from './app.ts';
import type { ApiContext, ApiHooks } from './context.ts';
import { fileValidationHook } from './file-validation.ts';
import { UrlSigner } from './signing.ts';

export type StartOptions = {
  extraRoutes?: FastifyPluginAsync[];
  /** Default: fine-tune uploads are validated in the background (src/data). */
  hooks?: ApiHooks;
  /** Runs when the server closes, before the store closes (stop workers, engines, ...). */
  onClose?: () => Promise<void>;
  logger?: BuildOptions['logger'];
  /** PostgreSQL schema (tests). */
  pgSchema?: string;
  /** An already open store to use (it is then not closed by close()). */
  store?: Store;
};

export type RunningServer = { url: string; app: FastifyInstance; context: ApiContext; close(): Promise<void> };

/** Builds the request context (store, keys, signer) from settings; exported for in-process tests. */
export async function createContext(settings: Settings, store: Store, hooks: ApiHooks = {}): Promise<ApiContext> {
  const workspace = await ensureWorkspace(store.db, defaultWorkspaceName);
  const secret = settings.signingSecret || (await loadOrCreateSecret(settings.dataDir, 'signing-secret'));
  return {
    settings,
    store,
    signer: new UrlSigner(secret),
    envKeyHashes: new Set(settings.apiKeys.map(hashApiKey)),
    defaultWorkspaceId: workspace.id,
    hooks,
  };
}

/** Opens the store, generates the built-in model's weights if missing, builds the app and listens on settings.host:settings.port (0 = any free port). */
export async function startServer(settings: Settings, opts: StartOptions = {}): Promise<RunningServer> {
  const store = opts.store ?? (await openStore({ dataDir: settings.dataDir, databaseUrl: settings.databaseUrl, pgSchema: opts.pgSchema, blobDir: settings.blobDir }));
  try {
    await ensureBuiltInModels(settings);
    const context = await createContext(settings, store, opts.hooks ?? { onFileUploaded: fileValidationHook(store) });
    const app = await buildApp(context, { extraRoutes: opts.extraRoutes, logger: opts.logger });
    // Before listening: leftovers of a crash go first. A SQLite data dir has one server, so all of them.
    const stopSweeps = await startOrphanSweeps(store.db, store.blobs, {
      graceMs: settings.orphanGraceMs,
      firstGraceMs: store.db.dialect === 'sqlite' ? 0 : settings.orphanGraceMs,
      log: (message, swept) => app.log.warn(swept, message),
    });
    await app.listen({ host: settings.host, port: settings.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : settings.port;
    const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
    let closing: Promise<void> | null = null;
    const close = () =>
      (closing ??= (async () => {
        stopSweeps();
        await app.close();
        await opts.onClose?.();
        if (!opts.store) await store.close();
      })());
    return { url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`, app, context, close };
  } catch (err) {
    if (!opts.store) await store.close();
    throw err;
  }
}
