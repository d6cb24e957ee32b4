/**
 * `atelier serve`: the API server (whose chat and classification routes start serving engines on
 * first use) and the embedded worker. Prints the URL it listens on; SIGINT/SIGTERM close it cleanly.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startServer } from '../../api/index.ts';
import { checkBaseModels } from '../../models/index.ts';
import { loadSettings } from '../../settings/index.ts';
import { startWorker } from '../../worker/index.ts';

const usage = `usage: atelier serve [--host H] [--port P] [--data-dir D] [--database-url postgres://…] [--api-key K]... [--train-processes N] [--base-model ID|DIR]...

  --host          address to listen on (ATELIER_HOST, default 127.0.0.1)
  --port          port, 0 for any free one (ATELIER_PORT, default 8000)
  --data-dir      database, files, shards, checkpoints (ATELIER_DATA_DIR, default .atelier)
  --database-url  PostgreSQL instead of SQLite (ATELIER_DATABASE_URL)
  --base-model    serve this base model too: a Hugging Face repo id found in the hub cache
                  (HF_HOME) or a folder (repeatable; also ATELIER_BASE_MODELS; docs/models.md)
  --api-key       accept this key (repeatable; also ATELIER_API_KEYS=k1,k2); such keys belong to
                  the default workspace. Create per-workspace keys with 'atelier keys create'.
  --train-processes  trainer ranks per job of the embedded worker: GPUs (at most the visible
                  ones) or CPU gloo processes (ATELIER_TRAIN_PROCESSES, default 0: every GPU, or 1 on CPU)
All settings: docs/configuration.md.`;

const flags = z.object({
  host: z.string().optional(),
  port: z.string().regex(/^\d+$/, 'must be a port number').optional(),
  'data-dir': z.string().optional(),
  'database-url': z.string().optional(),
  'api-key': z.array(z.string().min(1)).default([]),
  'train-processes': z.string().regex(/^\d+$/, 'must be a whole number of processes').optional(),
  'base-model': z.array(z.string().min(1)).default([]),
  help: z.boolean().optional(),
});

/** Parses serve's flags into settings overrides; throws with a message on bad flags. */
export function parseServeFlags(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      'api-key': { type: 'string', multiple: true },
      'train-processes': { type: 'string' },
      'base-model': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const f = flags.parse(values);
  const apiKeys = [env.ATELIER_API_KEYS ?? '', ...f['api-key']].filter(Boolean).join(',');
  const baseModels = [env.ATELIER_BASE_MODELS ?? '', ...f['base-model']].filter(Boolean).join(',');
  const settings = loadSettings({ host: f.host, port: f.port, dataDir: f['data-dir'], databaseUrl: f['database-url'], apiKeys, baseModels, trainProcesses: f['train-processes'] }, env);
  checkBaseModels(settings); // a repo id missing from the hub cache or a wrong folder stops the start
  return { settings, help: Boolean(f.help) };
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** Runs `atelier serve`; resolves to the exit code once a signal has closed the server. */
export async function run(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseServeFlags>;
  try {
    parsed = parseServeFlags(args);
  } catch (err) {
    console.error(`atelier serve: ${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    return 2;
  }
  if (parsed.help) return (console.log(usage), 0);
  const { settings } = parsed;
  const server = await startServer(settings, { logger: { level: settings.logLevel, stream: process.stderr } });
  // The embedded worker: one job at a time on this machine's device, from the same database.
  const worker = startWorker({ store: server.context.store, settings });
  console.log(`Atelier listening on ${server.url}`);
  if (settings.apiKeys.length === 0) console.error('atelier serve: no --api-key given; only keys from `atelier keys create` are accepted');
  const signal = await waitForSignal();
  console.error(`atelier serve: ${signal}, shutting down`);
  await worker.stop();
  await server.close();
  return 0;
}
