/**
 * src/models: what a model id names — the base models (built-in tiny-mistral and the folders of
 * modelsDir, baseModels: Hugging Face hub cache and folders), the workspace's fine-tuned models and their cards — and the Python launcher that
 * runs the trainer and the engines. jobs, worker and serving import it; it imports only store and settings.
 */
export { builtInModelId, ensureBuiltInModel, isBaseModelId, listBaseModelIds, resolveBaseModel, UnknownBaseModelError, type BaseModel } from './base-models.ts';
export { BaseModelSourceError, checkBaseModels, type ModelSources, type RegisteredModel } from './hub-cache.ts';
export { resolvePython, repoRoot, withoutPaths } from './python.ts';
export { findModel, fineTunedModelObject, listModelCards, modelCard, type ResolvedModel } from './catalog.ts';
