/**
 * `atelier worker`: a worker on another host (or a second one on this host). It claims jobs from
 * the shared database (PostgreSQL: row locks with SKIP LOCKED; SQLite: one write transaction),
 * heartbeats while it trains, and resumes jobs whose worker died. Files, shards and checkpoints are
 * read from --data-dir, which must be shared with the server (or at least its blob folder and jobs/:
 * docs/deploy.md).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { checkBaseModels } from '../../models/index.ts';
import { loadSettings } from '../../settings/index.ts';
import { openStore } from '../../store/index.ts';
import { startWorker } from '../../worker/index.ts';

const usage = `usage: atelier worker [--database-url postgres://…] [--data-dir D] [--worker-id ID] [--train-processes N] [--base-model ID|DIR]...

  --database-url  the server's database (ATELIER_DATABASE_URL; empty: SQLite in the data dir)
  --data-dir      the server's data dir, shared: files, shards, checkpoints (ATELIER_DATA_DIR)
  --worker-id     name this worker (default host:pid:random)
  --train-processes  trainer ranks per job: GPUs (at most the visible ones) or CPU gloo processes
                  (ATELIER_TRAIN_PROCESSES, default 0: every GPU, or 1 on CPU); the worker only
                  claims jobs needing at most that many devices
  --base-model    a base model the server serves (repo id in this host's hub cache, or a folder;
                  repeatable; also ATELIER_BASE_MODELS): give the worker the server's list
Stops on SIGINT/SIGTERM: the running job is checkpointed and released for the next worker.
All settings: docs/configuration.md.`;

const flags = z.object({
  'database-url': z.string().optional(),
  'data-dir': z.string().optional(),
  'worker-id': z.string().min(1).optional(),
  'train-processes': z.string().regex(/^\d+$/, 'must be a whole number of processes').optional(),
  'base-model': z.array(z.string().min(1)).default([]),
  help: z.boolean().optional(),
});

/** Runs a worker until a signal; resolves to the exit code. */
export async function run(args: string[]): Promise<number> {
  let f: z.infer<typeof flags>;
  let settings: ReturnType<typeof loadSettings>;
  try {
    const { values } = parseArgs({ args, options: {
      'database-url': { type: 'string' }, 'data-dir': { type: 'string' }, 'worker-id': { type: 'string' },
      'base-model': { type: 'string', multiple: true }, 'train-processes': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, strict: true });
    f = flags.parse(values);
    const baseModels = [process.env.ATELIER_BASE_MODELS ?? '', ...f['base-model']].filter(Boolean).join(',');
    settings = loadSettings({ databaseUrl: f['database-url'], dataDir: f['data-dir'], baseModels, trainProcesses: f['train-processes'] });
    checkBaseModels(settings);
  } catch (err) {
    console.error(`atelier worker: ${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    return 2;
  }
  if (f.help) return (console.log(usage), 0);
  const store = await openStore({ dataDir: settings.dataDir, databaseUrl: settings.databaseUrl, blobDir: settings.blobDir });
  const worker = startWorker({ store, settings, workerId: f['worker-id'] });
  console.log(`atelier worker ${worker.workerId} waiting for jobs`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  console.error(`atelier worker: ${signal}, stopping`);
  await worker.stop();
  await store.close();
  return 0;
}
