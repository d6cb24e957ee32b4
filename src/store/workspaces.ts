/**
 * Workspaces and API keys. A key belongs to one workspace; only its sha256 is stored. Workspace
 * ids are 8 hex characters because fine-tuned model ids embed them (`ft:<base>:<ws>:...`).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from './db.ts';

export type Workspace = { id: string; name: string; createdAt: number };
export type ApiKeyInfo = { id: string; workspaceId: string; workspaceName: string; prefix: string; createdAt: number };

/** The workspace that keys given by `--api-key` / ATELIER_API_KEYS belong to. */
export const defaultWorkspaceName = 'default';

const now = () => Math.floor(Date.now() / 1000);

/** sha256 hex of an API key: what is stored and looked up. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

type WorkspaceRow = { id: string; name: string; created_at: number };
const toWorkspace = (r: WorkspaceRow): Workspace => ({ id: r.id, name: r.name, createdAt: r.created_at });

/** Finds a workspace by name or id. */
async function findWorkspace(db: Db, nameOrId: string): Promise<Workspace | null> {
  const row = await db.one<WorkspaceRow>('SELECT id, name, created_at FROM workspaces WHERE name = $1 OR id = $1 ORDER BY name = $1 DESC', [nameOrId]);
  return row ? toWorkspace(row) : null;
}

/** Returns the workspace with this name (or id), creating it with a fresh 8-hex id if absent. */
export async function ensureWorkspace(db: Db, name: string): Promise<Workspace> {
  return db.transaction(async (tx) => {
    const found = await findWorkspace(tx, name);
    if (found) return found;
    const ws = { id: randomBytes(4).toString('hex'), name, createdAt: now() };
    await tx.run('INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)', [ws.id, ws.name, ws.createdAt]);
    return ws;
  });
}

/** Creates an API key for a workspace; the returned key is shown once and never stored. */
export async function createApiKey(db: Db, workspaceId: string): Promise<{ key: string; id: string; prefix: string }> {
  const key = `atl-${randomBytes(24).toString('base64url')}`;
  const id = randomUUID();
  const prefix = key.slice(0, 10);
  await db.run('INSERT INTO api_keys (id, workspace_id, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)', [
    id,
    workspaceId,
    hashApiKey(key),
    prefix,
    now(),
  ]);
  return { key, id, prefix };
}

/** Every stored key (without the key itself), oldest first. */
export async function listApiKeys(db: Db): Promise<ApiKeyInfo[]> {
  const rows = await db.query<{ id: string; workspace_id: string; name: string; prefix: string; created_at: number }>(
    'SELECT k.id, k.workspace_id, w.name, k.prefix, k.created_at FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id ORDER BY k.created_at, k.id',
  );
  return rows.map((r) => ({ id: r.id, workspaceId: r.workspace_id, workspaceName: r.name, prefix: r.prefix, createdAt: r.created_at }));
}

/** The workspace id a stored key belongs to, or null. */
export async function workspaceIdForKeyHash(db: Db, keyHash: string): Promise<string | null> {
  const row = await db.one<{ workspace_id: string }>('SELECT workspace_id FROM api_keys WHERE key_hash = $1', [keyHash]);
  return row?.workspace_id ?? null;
}
