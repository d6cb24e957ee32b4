/**
 * The reverse trip: a LoRA adapter trained elsewhere (a tar of a PEFT folder, or of Mistral's
 * lora.safetensors + params.json) on a registered base becomes a fine-tuned model of the
 * workspace. The exporter validates it against the base's shapes and rewrites it in Atelier's
 * layout under `<data-dir>/imports/<import id>/adapter`; the model's `job` is that import id.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { fineTunedModelId, suffixPattern } from '../jobs/index.ts';
import type { Settings } from '../settings/index.ts';
import { createFineTunedModel, type Db, type FineTunedModelRecord } from '../store/index.ts';
import { resolveBaseModel } from '../models/index.ts';
import { runExporter } from './run-python.ts';

export const importFields = z.object({
  base_model: z.string().min(1).describe('A registered base model id (GET /v1/models) the adapter was trained on'),
  suffix: z.string().regex(suffixPattern).optional().describe('Goes into the new model id, as a job suffix does'),
  name: z.string().max(256).optional(),
  description: z.string().max(4096).optional(),
});
export type ImportFields = z.output<typeof importFields>;

/** Validates the uploaded tar at `tarPath` and registers the model; throws ExportInputError for a bad adapter. */
export async function importAdapter(db: Db, settings: Settings, workspaceId: string, tarPath: string, f: ImportFields): Promise<FineTunedModelRecord> {
  const base = await resolveBaseModel(f.base_model, settings);
  const importId = `import-${randomUUID()}`;
  const adapterDir = path.join(settings.dataDir, 'imports', importId, 'adapter');
  await mkdir(adapterDir, { recursive: true });
  try {
    await runExporter(settings.python, ['--import-adapter', tarPath, '--model-dir', base.dir, '--out', adapterDir, '--base-id', base.id]);
  } catch (err) {
    await rm(path.dirname(adapterDir), { recursive: true, force: true });
    throw err;
  }
  const id = fineTunedModelId({ base: base.id, suffix: f.suffix ?? null, workspaceId, jobId: importId.slice('import-'.length), createdAt: Math.floor(Date.now() / 1000) });
  return createFineTunedModel(db, {
    id, workspaceId, jobId: importId, baseModel: base.id, modelType: 'completion', adapterDir, classifierTargets: null,
    name: f.name ?? null, description: f.description ?? null,
  });
}
