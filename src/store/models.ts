/**
 * The `models` table: fine-tuned models registered when a job succeeds. The models API and the
 * serving engines read it; ids follow Mistral's `ft:…` form (src/jobs/model-id.ts).
 */
import type { Db, SqlValue } from './db.ts';

export type FineTunedModelRecord = {
  id: string;
  workspaceId: string;
  jobId: string;
  baseModel: string;
  modelType: 'completion' | 'classifier';
  /** Folder with the adapter (PEFT layout + lora.safetensors) written by the trainer. */
  adapterDir: string;
  name: string | null;
  description: string | null;
  archived: boolean;
  classifierTargets: Record<string, unknown>[] | null;
  createdAt: number;
  modifiedAt: number;
};

function toModel(r: Record<string, unknown>): FineTunedModelRecord {
  return {
    id: String(r.id),
    workspaceId: String(r.workspace_id),
    jobId: String(r.job_id),
    baseModel: String(r.base_model),
    modelType: r.model_type === 'classifier' ? 'classifier' : 'completion',
    adapterDir: String(r.adapter_dir),
    name: r.name === null || r.name === undefined ? null : String(r.name),
    description: r.description === null || r.description === undefined ? null : String(r.description),
    archived: Number(r.archived) === 1,
    classifierTargets: typeof r.classifier_targets === 'string' ? (JSON.parse(r.classifier_targets) as Record<string, unknown>[]) : null,
    createdAt: Number(r.created_at),
    modifiedAt: Number(r.modified_at),
  };
}

/** Registers a fine-tuned model; replaces the row if the same id was registered before (a resumed job finishing twice). */
export async function createFineTunedModel(
  db: Db,
  m: Omit<FineTunedModelRecord, 'createdAt' | 'modifiedAt' | 'archived' | 'name' | 'description'> & { name?: string | null; description?: string | null },
): Promise<FineTunedModelRecord> {
  const now = Math.floor(Date.now() / 1000);
  await db.run(
    `INSERT INTO models (id, workspace_id, job_id, base_model, model_type, adapter_dir, name, description, archived, classifier_targets, created_at, modified_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $10)
     ON CONFLICT (id) DO UPDATE SET adapter_dir = excluded.adapter_dir, modified_at = excluded.modified_at`,
    [m.id, m.workspaceId, m.jobId, m.baseModel, m.modelType, m.adapterDir, m.name ?? null, m.description ?? null,
      m.classifierTargets === null ? null : JSON.stringify(m.classifierTargets), now],
  );
  const created = await getFineTunedModel(db, m.workspaceId, m.id);
  if (!created) throw new Error(`model ${m.id} vanished after insert`);
  return created;
}

/** A fine-tuned model of a workspace, or null. */
export async function getFineTunedModel(db: Db, workspaceId: string, id: string): Promise<FineTunedModelRecord | null> {
  const r = await db.one('SELECT * FROM models WHERE id = $1 AND workspace_id = $2', [id, workspaceId]);
  return r ? toModel(r) : null;
}

/** A workspace's fine-tuned models, oldest first; archived ones only when asked. */
export async function listFineTunedModels(db: Db, workspaceId: string, opts: { includeArchived?: boolean } = {}): Promise<FineTunedModelRecord[]> {
  const rows = await db.query(
    `SELECT * FROM models WHERE workspace_id = $1 ${opts.includeArchived === false ? 'AND archived = 0' : ''} ORDER BY created_at, id`,
    [workspaceId],
  );
  return rows.map(toModel);
}

/** Updates name, description or archived; returns the updated model, or null when absent. */
export async function updateFineTunedModel(
  db: Db,
  workspaceId: string,
  id: string,
  patch: { name?: string | null; description?: string | null; archived?: boolean },
): Promise<FineTunedModelRecord | null> {
  const sets = ['modified_at = $3'];
  const params: SqlValue[] = [id, workspaceId, Math.floor(Date.now() / 1000)];
  const set = (col: string, v: SqlValue) => {
    params.push(v);
    sets.push(`${col} = $${params.length}`);
  };
  if (patch.name !== undefined) set('name', patch.name);
  if (patch.description !== undefined) set('description', patch.description);
  if (patch.archived !== undefined) set('archived', patch.archived ? 1 : 0);
  const r = await db.one(`UPDATE models SET ${sets.join(', ')} WHERE id = $1 AND workspace_id = $2 RETURNING *`, params);
  return r ? toModel(r) : null;
}

/** Deletes a fine-tuned model row (its adapter files are the caller's); returns whether it existed. */
export async function deleteFineTunedModel(db: Db, workspaceId: string, id: string): Promise<boolean> {
  const { changes } = await db.run('DELETE FROM models WHERE id = $1 AND workspace_id = $2', [id, workspaceId]);
  return changes > 0;
}
