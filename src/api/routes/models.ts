/**
 * Models (reference §3, §6.4): list and retrieve cards (base + the workspace's fine-tuned models),
 * delete a fine-tuned model (its adapter goes too), update name/description, archive/unarchive,
 * and the adapter download extension `GET /v1/fine_tuning/models/{id}/adapter` (a tar).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { removeModelExports } from '../../exports/index.ts';
import { findModel, fineTunedModelObject, listModelCards, modelCard, modelReadsImages } from '../../models/index.ts';
import { packAdapterTar, removeAdapterFiles } from '../../serving/index.ts';
import { deleteFineTunedModel, updateFineTunedModel, type FineTunedModelRecord } from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { decodeId, parse } from '../parse.ts';
import { fineTunedModelReply, modelCardReply, modelListReply } from '../reply-schemas.ts';

const idParams = z.object({ model_id: z.string().min(1).transform(decodeId) });
const listQuery = z.object({ provider: z.string().optional(), model: z.string().optional() }).loose();
const updateBody = z.object({ name: z.string().nullish(), description: z.string().nullish() }).loose();
const deleted = z.object({ id: z.string(), object: z.literal('model'), deleted: z.boolean() });
const archived = z.object({ id: z.string(), object: z.literal('model'), archived: z.boolean() });
const tags = ['models'];

export default async function modelRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.atelier;

  /** The caller's fine-tuned model named in the path; 404 when absent, 400 for a base model. */
  async function fineTuned(request: FastifyRequest, action: string): Promise<FineTunedModelRecord> {
    const { model_id } = parse(idParams, request.params, 'path');
    const found = await findModel(ctx.store.db, ctx.settings, request.workspace.id, model_id);
    if (!found) throw new ApiError('model_not_found', { id: model_id });
    if (found.kind === 'base') throw new ApiError('model_not_fine_tuned', { id: model_id, action });
    return found.model;
  }

  app.get('/v1/models', { config: { docs: { summary: 'List base models and the workspace\'s fine-tuned models', tags, query: listQuery, response: modelListReply } } }, async (request) => {
    const q = parse(listQuery, request.query, 'query');
    const all = await listModelCards(ctx.store.db, ctx.settings, request.workspace.id);
    return { object: 'list' as const, data: q.model ? all.filter((c) => c.id === q.model) : all };
  });

  app.get('/v1/models/:model_id', { config: { docs: { summary: 'Retrieve a model card (ids may be percent-encoded)', tags, params: idParams, response: modelCardReply } } }, async (request) => {
    const { model_id } = parse(idParams, request.params, 'path');
    const found = await findModel(ctx.store.db, ctx.settings, request.workspace.id, model_id);
    if (!found) throw new ApiError('model_not_found', { id: model_id });
    return modelCard(found, await modelReadsImages(found, ctx.settings));
  });

  app.delete('/v1/models/:model_id', { config: { docs: { summary: 'Delete a fine-tuned model and its adapter', tags, params: idParams, response: deleted } } }, async (request) => {
    const m = await fineTuned(request, 'deleted');
    await deleteFineTunedModel(ctx.store.db, request.workspace.id, m.id);
    await removeAdapterFiles(m.adapterDir);
    await removeModelExports(ctx.settings, request.workspace.id, m.id);
    return { id: m.id, object: 'model' as const, deleted: true };
  });

  app.patch('/v1/fine_tuning/models/:model_id', { config: { docs: { summary: 'Update a fine-tuned model\'s name or description', tags, params: idParams, body: updateBody, response: fineTunedModelReply } } }, async (request) => {
    const m = await fineTuned(request, 'updated');
    const body = parse(updateBody, request.body ?? {}, 'body');
    const updated = await updateFineTunedModel(ctx.store.db, request.workspace.id, m.id, { name: body.name, description: body.description });
    if (!updated) throw new ApiError('model_not_found', { id: m.id });
    return fineTunedModelObject(updated);
  });

  const setArchived = (value: boolean) => async (request: FastifyRequest) => {
    const m = await fineTuned(request, value ? 'archived' : 'unarchived');
    await updateFineTunedModel(ctx.store.db, request.workspace.id, m.id, { archived: value });
    return { id: m.id, object: 'model' as const, archived: value };
  };
  app.post('/v1/fine_tuning/models/:model_id/archive', { config: { docs: { summary: 'Archive a fine-tuned model', tags, params: idParams, response: archived } } }, setArchived(true));
  app.delete('/v1/fine_tuning/models/:model_id/archive', { config: { docs: { summary: 'Unarchive a fine-tuned model', tags, params: idParams, response: archived } } }, setArchived(false));

  app.get('/v1/fine_tuning/models/:model_id/adapter', { config: { docs: { summary: 'Atelier extension: download the adapter as a tar (PEFT files + lora.safetensors)', tags, params: idParams, responseContentType: 'application/x-tar' } } }, async (request, reply) => {
    const m = await fineTuned(request, 'downloaded');
    const safeName = m.id.replace(/[^\w.-]+/g, '_');
    const tar = await packAdapterTar(m.adapterDir, safeName);
    return reply.type('application/x-tar').header('content-disposition', `attachment; filename="${safeName}.tar"`).send(tar);
  });
}
