/**
 * Classifiers and moderation (reference §4): `/v1/classifications`, `/v1/chat/classifications`,
 * `/v1/moderations` and `/v1/chat/moderations`, answered by the workspace's fine-tuned classifier
 * models (docs/classifiers.md). A base or completion model is a 400 naming what to use instead.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  chatClassificationInputs, chatClassificationSchema, chatModerationInputs, chatModerationSchema, ClassifierInputError,
  classifierTargetsOf, classifyInputs, EngineFailure, renderClassification, renderModeration, textClassificationSchema, textInputs,
  type ClassifierInputs,
} from '../../serving/index.ts';
import { findModel } from '../../models/index.ts';
import type { FineTunedModelRecord } from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { parse } from '../parse.ts';

const classification = z.object({ id: z.string(), model: z.string(), results: z.array(z.record(z.string(), z.object({ scores: z.record(z.string(), z.number()) }))) });
const moderation = z.object({ id: z.string(), model: z.string(), results: z.array(z.object({ categories: z.record(z.string(), z.boolean()), category_scores: z.record(z.string(), z.number()) })) });
const tags = ['classifiers'];

function toApiError(err: unknown): unknown {
  if (err instanceof ClassifierInputError) return new ApiError('invalid_request', { reason: err.message }, { param: 'model' });
  if (err instanceof EngineFailure) return new ApiError('engine_failed', { reason: err.message });
  return err;
}

export default async function classifierRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.atelier;
  const pool = app.services.engines;

  /** The caller's fine-tuned classifier named `id` and its scores for `inputs`. */
  async function classify(request: FastifyRequest, id: string, inputs: () => ClassifierInputs): Promise<{ model: FineTunedModelRecord; scores: Awaited<ReturnType<typeof classifyInputs>> }> {
    const found = await findModel(ctx.store.db, ctx.settings, request.workspace.id, id);
    if (!found) throw new ApiError('model_not_found', { id }, { param: 'model' });
    if (found.kind === 'base') throw new ApiError('invalid_request', { reason: `'${id}' is a base model: classifications and moderations need a model fine-tuned with job_type "classifier"` }, { param: 'model' });
    try {
      return { model: found.model, scores: await classifyInputs(pool, found.model, inputs()) };
    } catch (err) {
      throw toApiError(err);
    }
  }

  app.post('/v1/classifications', { config: { docs: { summary: 'Classify texts with a fine-tuned classifier', tags, body: textClassificationSchema, response: classification } } }, async (request) => {
    const body = parse(textClassificationSchema, request.body, 'body');
    const { scores } = await classify(request, body.model, () => textInputs(body));
    return renderClassification(body.model, scores);
  });

  app.post('/v1/chat/classifications', { config: { docs: { summary: 'Classify conversations with a fine-tuned classifier', tags, body: chatClassificationSchema, response: classification } } }, async (request) => {
    const body = parse(chatClassificationSchema, request.body, 'body');
    const { scores } = await classify(request, body.model, () => chatClassificationInputs(body));
    return renderClassification(body.model, scores);
  });

  app.post('/v1/moderations', { config: { docs: { summary: 'Moderate texts with a fine-tuned classifier (labels as categories)', tags, body: textClassificationSchema, response: moderation } } }, async (request) => {
    const body = parse(textClassificationSchema, request.body, 'body');
    const { model, scores } = await classify(request, body.model, () => textInputs(body));
    return renderModeration(body.model, classifierTargetsOf(model), scores);
  });

  app.post('/v1/chat/moderations', { config: { docs: { summary: 'Moderate conversations with a fine-tuned classifier', tags, body: chatModerationSchema, response: moderation } } }, async (request) => {
    const body = parse(chatModerationSchema, request.body, 'body');
    const { model, scores } = await classify(request, body.model, () => chatModerationInputs(body));
    return renderModeration(body.model, classifierTargetsOf(model), scores);
  });
}
