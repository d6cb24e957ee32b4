/**
 * A live Atelier server for end-to-end tests: a temp data dir, SQLite (or PostgreSQL with its own
 * schema when `postgres: true`), one API key for the default workspace, listening on 127.0.0.1
 * port 0. `close()` stops it and removes everything it created.
 *
 *   const server = await startTestServer();
 *   t.after(() => server.close());
 *   const client = new Mistral({ serverURL: server.url, apiKey: server.key });
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { fileValidationHook, startServer, type RunningServer, type StartOptions } from '../../src/api/index.ts';
import { loadSettings, type SettingName } from '../../src/settings/index.ts';
import { createApiKey, ensureWorkspace } from '../../src/store/index.ts';
import { createTestSchema, testDatabaseUrl } from './postgres.ts';

export type TestServer = {
  /** http://127.0.0.1:PORT (Mistral serverURL; OpenAI baseURL is `${url}/v1`). */
  url: string;
  /** An API key of the default workspace. */
  key: string;
  workspaceId: string;
  dataDir: string;
  /** The PostgreSQL schema of a `postgres: true` server (other stores, e.g. a second worker's, open it too). */
  pgSchema: string | null;
  running: RunningServer;
  /** A key for another workspace (created on first use). */
  createKey(workspace: string): Promise<{ key: string; workspaceId: string }>;
  /** Resolves once the background validation of this file has stored its report. */
  validated(fileId: string): Promise<void>;
  close(): Promise<void>;
};

export type TestServerOptions = {
  /** Setting overrides (e.g. `{ maxFileBytes: 1000 }`). */
  settings?: Partial<Record<SettingName, unknown>>;
  extraRoutes?: FastifyPluginAsync[];
  onClose?: StartOptions['onClose'];
  /** Use PostgreSQL (a fresh schema in the test database) instead of SQLite. */
  postgres?: boolean;
};

/** Starts a server; call close() (e.g. in t.after) to stop it and delete its data. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-test-'));
  const schema = opts.postgres ? await createTestSchema() : null;
  const key = `test-${randomBytes(12).toString('hex')}`;
  const settings = loadSettings(
    { host: '127.0.0.1', port: 0, dataDir, apiKeys: key, databaseUrl: schema ? testDatabaseUrl : '', ...opts.settings },
    {},
  );
  const done = new Map<string, () => void>();
  const waiting = new Map<string, Promise<void>>();
  const validated = (id: string) => {
    if (!waiting.has(id)) waiting.set(id, new Promise<void>((r) => done.set(id, r)));
    return waiting.get(id) as Promise<void>;
  };
  let running: RunningServer;
  try {
    running = await startServer(settings, {
      extraRoutes: opts.extraRoutes,
      onClose: opts.onClose,
      pgSchema: schema?.schema,
      hooks: {
        onFileUploaded: async (file) => {
          const hook = fileValidationHook(running.context.store, (id) => {
            validated(id);
            done.get(id)?.();
          });
          await hook(file);
        },
      },
    });
  } catch (err) {
    await schema?.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const db = running.context.store.db;
  return {
    url: running.url,
    key,
    workspaceId: running.context.defaultWorkspaceId,
    dataDir,
    pgSchema: schema?.schema ?? null,
    running,
    async createKey(workspace) {
      const ws = await ensureWorkspace(db, workspace);
      return { key: (await createApiKey(db, ws.id)).key, workspaceId: ws.id };
    },
    validated,
    async close() {
      await running.close();
      await schema?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
