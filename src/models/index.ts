/**
 * src/models: what a model id names — the base models (built-ins tiny-mistral and tiny-pixtral, the folders of
 * modelsDir, baseModels: Hugging Face hub cache and folders), the workspace's fine-tuned models and their cards — and the Python launcher that
 * runs the trainer and the engines. jobs, worker and serving import it; it imports only store and settings.
 */
export { baseModelReadsImages, builtInModelId, builtInModelIds, ensureBuiltInModel, ensureBuiltInModels, isBaseModelId, listBaseModelIds, resolveBaseModel, UnknownBaseModelError, type BaseModel, type ModelShape } from './base-models.ts';
export { BaseModelSourceError, checkBaseModels, type ModelSources, type RegisteredModel } from './hub-cache.ts';
export { resolvePython, repoRoot, withoutPaths } from './python.ts';
export { findModel, fineTunedModelObject, listModelCards, modelCard, modelReadsImages, type ResolvedModel } from './catalog.ts';
