/**
 * Take the fine-tune anywhere (docs/export.md): `GET /v1/models/{id}/export` streams a tar of a
 * base or fine-tuned model in one of four formats (PEFT adapter package, merged Hugging Face or
 * Mistral weights, GGUF), built once and cached; `POST /v1/fine_tuning/models/import` registers a
 * PEFT adapter trained elsewhere as a fine-tuned model. Both are scoped to the caller's workspace.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { ExportInputError, exportOptions, importAdapter, importFields, modelCardFacts, produceExport, receiveUpload, tarSize, tarStream, UploadTooLargeError, type ExportOptions, type ExportTarget, type ReadyExport } from '../../exports/index.ts';
import { fineTunedModelObject, findModel, resolveBaseModel, UnknownBaseModelError, type ResolvedModel } from '../../models/index.ts';
import type { Settings } from '../../settings/index.ts';
import { appendEvent, type Db } from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { decodeId, parse } from '../parse.ts';

const idParams = z.object({ model_id: z.string().min(1).transform(decodeId) });
const importForm = importFields.extend({ file: z.string().describe('a tar of the adapter folder (adapter_config.json + adapter_model.safetensors, or lora.safetensors + params.json)') });
const importedModel = z.object({ id: z.string(), object: z.literal('model'), root: z.string(), job: z.string(), model_type: z.literal('completion') }).loose();
const tags = ['models'];

async function exportTarget(db: Db, settings: Settings, found: ResolvedModel, o: ExportOptions): Promise<ExportTarget> {
  if (found.kind === 'base') {
    if (o.format === 'peft') throw new ApiError('export_invalid', { reason: `'${found.id}' is a base model: it has no adapter to export as peft; use merged-hf, merged-mistral or gguf` }, { param: 'format' });
    const base = await resolveBaseModel(found.id, settings);
    return { workspaceId: null, modelId: found.id, baseModel: found.id, baseDir: base.dir, adapterDir: null, card: {} };
  }
  const m = found.model;
  if (m.modelType === 'classifier') throw new ApiError('export_invalid', { reason: `'${m.id}' is a classifier: its heads have no place in these formats; only completion models export` });
  const base = await resolveBaseModel(m.baseModel, settings);
  return { workspaceId: m.workspaceId, modelId: m.id, baseModel: m.baseModel, baseDir: base.dir, adapterDir: m.adapterDir, card: await modelCardFacts(db, m) };
}

/** The export, turning the exporter's refusals into 400s. */
async function produce(settings: Settings, t: ExportTarget, o: ExportOptions): Promise<ReadyExport> {
  try {
    return await produceExport(settings, t, o);
  } catch (err) {
    if (err instanceof ExportInputError) throw new ApiError('export_invalid', { reason: err.message });
    throw err;
  }
}

async function recordDownload(db: Db, found: ResolvedModel, o: ExportOptions, ready: ReadyExport, bytes: number): Promise<void> {
  if (found.kind !== 'fine-tuned' || found.model.jobId.startsWith('import-')) return;
  const what = `${o.format}${o.dtype ? ` ${o.dtype}` : ''}${o.format === 'gguf' ? ` ${o.quant}` : ''}`;
  await appendEvent(db, found.model.jobId, {
    name: 'message', level: 'info', message: `Model ${found.model.id} exported as ${what} (${ready.files.length} files, ${bytes} bytes${ready.built ? '' : ', cached'})`,
    data: { export: { model: found.model.id, ...o, files: ready.files, bytes, cached: !ready.built } },
  });
}

async function sendTar(reply: FastifyReply, ready: ReadyExport, name: string, bytes: number): Promise<FastifyReply> {
  return reply.type('application/x-tar').header('content-length', bytes)
    .header('content-disposition', `attachment; filename="${name}.tar"`).send(tarStream(ready.dir, ready.files, name));
}

export default async function exportRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.atelier;

  app.get('/v1/models/:model_id/export', { config: { docs: { summary: 'Atelier extension: download a base or fine-tuned model as a tar (peft, merged-hf, merged-mistral or gguf; docs/export.md)', tags, params: idParams, query: exportOptions, responseContentType: 'application/x-tar' } } }, async (request, reply) => {
    const { model_id } = parse(idParams, request.params, 'path');
    const o = parse(exportOptions, request.query, 'query');
    const found = await findModel(ctx.store.db, ctx.settings, request.workspace.id, model_id);
    if (!found) throw new ApiError('model_not_found', { id: model_id });
    const ready = await produce(ctx.settings, await exportTarget(ctx.store.db, ctx.settings, found, o), o);
    const bytes = await tarSize(ready.dir, ready.files);
    await recordDownload(ctx.store.db, found, o, ready, bytes);
    return sendTar(reply, ready, `${model_id.replace(/[^\w.-]+/g, '_')}-${o.format}`, bytes);
  });

  app.post('/v1/fine_tuning/models/import', { config: { docs: { summary: 'Atelier extension: register a LoRA adapter trained elsewhere on a base model as a fine-tuned model', tags, body: importForm, bodyContentType: 'multipart/form-data', response: importedModel } } }, async (request) => {
    const upload = await receiveUpload(request, ctx.settings.importMaxBytes).catch((err: unknown) => {
      throw err instanceof UploadTooLargeError ? new ApiError('import_too_large', { maxBytes: err.maxBytes }) : err;
    });
    try {
      const fields = parse(importFields, upload.fields, 'form');
      if (!upload.file) throw new ApiError('missing_file');
      return fineTunedModelObject(await importAdapter(ctx.store.db, ctx.settings, request.workspace.id, upload.file, fields));
    } catch (err) {
      if (err instanceof ExportInputError) throw new ApiError('export_invalid', { reason: err.message }, { param: 'file' });
      if (err instanceof UnknownBaseModelError) throw new ApiError('unknown_model', { reason: err.message }, { param: 'base_model' });
      throw err;
    } finally {
      await upload.cleanup();
    }
  });
}
