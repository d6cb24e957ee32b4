/**
 * What `model` names in a request: a base model (built-in or in modelsDir) or one of the
 * workspace's fine-tuned models, and the model cards the models API lists (reference §3.1, §6.4).
 */
import type { Settings } from '../settings/index.ts';
import { getFineTunedModel, listFineTunedModels, type Db, type FineTunedModelRecord } from '../store/index.ts';
import { baseModelReadsImages, isBaseModelId, listBaseModelIds } from './base-models.ts';
import { findRegisteredModel } from './hub-cache.ts';

/** A base model; `hfRepoId` is the Hugging Face repo it came from (baseModels setting), else null. */
export type ResolvedModel = { kind: 'base'; id: string; hfRepoId?: string | null } | { kind: 'fine-tuned'; model: FineTunedModelRecord };
type ModelSettings = Pick<Settings, 'modelsDir' | 'baseModels' | 'hfHubCache'>;

function baseModel(id: string, settings: ModelSettings): ResolvedModel {
  return { kind: 'base', id, hfRepoId: findRegisteredModel(id, settings)?.hfRepoId ?? null };
}

/** The base or fine-tuned model `id` as the workspace sees it, or null. */
export async function findModel(db: Db, settings: ModelSettings, workspaceId: string, id: string): Promise<ResolvedModel | null> {
  if (isBaseModelId(id, settings)) return baseModel(id, settings);
  const ft = await getFineTunedModel(db, workspaceId, id);
  return ft ? { kind: 'fine-tuned', model: ft } : null;
}

// Base models are registered when the server starts; their cards share one timestamp.
const startedAt = Math.floor(Date.now() / 1000);

type CatalogSettings = ModelSettings & Pick<Settings, 'dataDir' | 'python'>;

function capabilities(classifier: boolean, vision: boolean): Record<string, boolean> {
  return {
    completion_chat: !classifier, function_calling: !classifier, completion_fim: false, fine_tuning: true,
    vision: vision && !classifier, classification: classifier, moderation: false, reasoning: false, ocr: false, audio: false,
  };
}

/** Whether chats with the model read images: its base model has a vision encoder (a fine-tune keeps its base's encoder). */
export function modelReadsImages(m: ResolvedModel, settings: CatalogSettings): Promise<boolean> {
  return baseModelReadsImages(m.kind === 'base' ? m.id : m.model.baseModel, settings);
}

/** A model card in the superset both SDKs parse; `vision` from modelReadsImages. */
export function modelCard(m: ResolvedModel, vision: boolean): Record<string, unknown> {
  if (m.kind === 'base') {
    return {
      id: m.id, object: 'model', created: startedAt, owned_by: 'atelier', type: 'base', capabilities: capabilities(false, vision),
      name: m.id, description: null, max_context_length: 32768, aliases: [], deprecation: null, default_model_temperature: 0.7,
      ...(m.hfRepoId ? { hf_repo_id: m.hfRepoId } : {}),
    };
  }
  const f = m.model;
  return {
    id: f.id, object: 'model', created: f.createdAt, owned_by: f.workspaceId, type: 'fine-tuned',
    capabilities: capabilities(f.modelType === 'classifier', vision), name: f.name, description: f.description,
    max_context_length: 32768, aliases: [], deprecation: null, job: f.jobId, root: f.baseModel, archived: f.archived,
  };
}

/** The fine-tuned model object of PATCH replies (discriminator `model_type`). */
export function fineTunedModelObject(f: FineTunedModelRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: f.id, object: 'model', created: f.createdAt, owned_by: f.workspaceId, workspace_id: f.workspaceId,
    root: f.baseModel, root_version: '1', archived: f.archived, name: f.name, description: f.description,
    capabilities: { completion_chat: f.modelType === 'completion', completion_fim: false, function_calling: f.modelType === 'completion', fine_tuning: false, classification: f.modelType === 'classifier' },
    max_context_length: 32768, aliases: [], job: f.jobId, model_type: f.modelType,
  };
  if (f.modelType === 'classifier') out.classifier_targets = f.classifierTargets ?? [];
  return out;
}

/** Every card the workspace sees: base models, then its fine-tuned models (archived included, marked). */
export async function listModelCards(db: Db, settings: CatalogSettings, workspaceId: string): Promise<Record<string, unknown>[]> {
  const models: ResolvedModel[] = [
    ...(await listBaseModelIds(settings)).map((id) => baseModel(id, settings)),
    ...(await listFineTunedModels(db, workspaceId)).map((model) => ({ kind: 'fine-tuned' as const, model })),
  ];
  return Promise.all(models.map(async (m) => modelCard(m, await modelReadsImages(m, settings))));
}
