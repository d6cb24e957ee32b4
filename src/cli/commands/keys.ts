/**
 * `atelier keys create --workspace W` prints a new API key for workspace W (created if needed; the
 * key is shown once, only its hash is stored). `atelier keys list` lists keys by prefix.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadSettings } from '../../settings/index.ts';
import { createApiKey, ensureWorkspace, listApiKeys, openStore } from '../../store/index.ts';

const usage = `usage: atelier keys create --workspace NAME [--data-dir D] [--database-url U] [--json]
       atelier keys list [--data-dir D] [--database-url U] [--json]`;

const flags = z.object({
  workspace: z.string().regex(/^[\w.-]{1,64}$/, 'letters, digits, "_", "." and "-" only (at most 64)').optional(),
  'data-dir': z.string().optional(),
  'database-url': z.string().optional(),
  json: z.boolean().optional(),
});

function parseKeysFlags(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      workspace: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  return { command: positionals[0], extra: positionals.slice(1), flags: flags.parse(values) };
}

/** Runs `atelier keys …`; resolves to the exit code (2 on usage errors). */
export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) return (console.log(usage), 0);
  let p: ReturnType<typeof parseKeysFlags>;
  try {
    p = parseKeysFlags(args);
    if (!['create', 'list'].includes(p.command ?? '') || p.extra.length) throw new Error('expected create or list');
    if (p.command === 'create' && !p.flags.workspace) throw new Error('create needs --workspace NAME');
  } catch (err) {
    console.error(`atelier keys: ${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    return 2;
  }
  const settings = loadSettings({ dataDir: p.flags['data-dir'], databaseUrl: p.flags['database-url'] });
  const store = await openStore({ dataDir: settings.dataDir, databaseUrl: settings.databaseUrl, blobDir: settings.blobDir });
  try {
    if (p.command === 'create') {
      const ws = await ensureWorkspace(store.db, p.flags.workspace ?? '');
      const key = await createApiKey(store.db, ws.id);
      if (p.flags.json) console.log(JSON.stringify({ key: key.key, workspace: ws.name, workspace_id: ws.id }));
      else console.log(`${key.key}\n(workspace ${ws.name}, id ${ws.id}; the key is shown only this once)`);
    } else {
      const keys = await listApiKeys(store.db);
      if (p.flags.json) console.log(JSON.stringify(keys.map((k) => ({ prefix: k.prefix, workspace: k.workspaceName, workspace_id: k.workspaceId, created_at: k.createdAt }))));
      else for (const k of keys) console.log(`${k.prefix}…  ${k.workspaceName} (${k.workspaceId})  ${new Date(k.createdAt * 1000).toISOString()}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
