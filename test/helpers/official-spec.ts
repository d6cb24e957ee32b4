/**
 * Mistral's official OpenAPI document (the subset in test/fixtures/mistral-openapi) and the
 * deliberate differences Atelier's replies have from it, each with its reason. The patches are
 * applied before replies are validated against the official schemas; scripts/api-compatibility.ts
 * lists them (with the unsupported paths and fields) in docs/api-compatibility.md.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export type Schema = Record<string, unknown>;
export type Operation = {
  operationId: string;
  parameters?: { name: string; in: string; required?: boolean; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
};
export type OpenApiDoc = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> }; source?: Record<string, string> };

export const officialSpecPath = path.join(import.meta.dirname, '..', 'fixtures', 'mistral-openapi', 'openapi-subset.json');

export async function loadOfficialSpec(): Promise<OpenApiDoc> {
  return JSON.parse(await readFile(officialSpecPath, 'utf8')) as OpenApiDoc;
}

/** Where Atelier's replies deliberately differ from the official schemas, and why. */
export const replyDeviations: { schema: string; change: string; reason: string; apply: (s: Record<string, Schema>) => void }[] = [
  {
    schema: 'FineTuneableModel', change: 'any base model id instead of the enum of Mistral-hosted models',
    reason: 'Atelier fine-tunes the base models installed on the server (e.g. tiny-mistral), not Mistral\'s hosted ones',
    apply: (s) => void (s.FineTuneableModel = { type: 'string' }),
  },
  {
    schema: 'ChatCompletionResponse', change: '`data` is not required',
    reason: 'an erratum in the official document: a chat completion has no `data` field (the official SDKs do not read one)',
    apply: (s) => {
      const part = (s.ChatCompletionResponse.allOf as Schema[])[1];
      part.required = (part.required as string[]).filter((r) => r !== 'data');
    },
  },
];

/** The official document with the deviations applied (a copy). */
export function officialPatches(doc: OpenApiDoc): OpenApiDoc {
  const copy = structuredClone(doc);
  for (const d of replyDeviations) d.apply(copy.components.schemas);
  return copy;
}
