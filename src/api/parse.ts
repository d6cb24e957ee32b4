/**
 * zod at the HTTP edge: `parse(schema, value, where)` returns the parsed value or throws a 422
 * ApiError with FastAPI-style `detail` (loc starts with where: "body", "query", "path").
 * Plus query helpers for the SDKs' encodings (reference §0.5): repeated keys for arrays,
 * "true"/"false" booleans, integers as strings.
 */
import { z } from 'zod';
import { ApiError, type DetailItem } from './errors.ts';
import { rejectNul, type Where } from './nul-bytes.ts';

export type { Where };

/** Parses value with schema; throws ApiError 'validation_failed' (422) listing every issue, or naming a string with a NUL byte. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where: Where): z.output<T> {
  rejectNul(value, where);
  const result = schema.safeParse(value);
  if (result.success) {
    // The output too: a transform (decodeId of `%2500`) can make a NUL the raw input did not show.
    rejectNul(result.data, where);
    return result.data;
  }
  const detail: DetailItem[] = result.error.issues.map((issue) => ({
    loc: [where, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))],
    msg: issue.message,
    type: issue.code,
  }));
  const summary = detail.map((d) => `${d.loc.slice(1).join('.') || where}: ${d.msg}`).join('; ');
  const first = detail[0]?.loc.slice(1).join('.');
  return failWith(new ApiError('validation_failed', { where, summary }, { detail, param: first || undefined }));
}

function failWith(err: ApiError): never {
  throw err;
}

/** A query parameter that may repeat: one value or many arrive; always an array. */
export const queryArray = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]), z.array(item).optional());

/** A query boolean: "true"/"false" (also 1/0). */
export const queryBool = z.preprocess(
  (v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v),
  z.boolean(),
);

/** A query integer sent as a string. */
export const queryInt = z.coerce.number().int();

/** Decodes a path id once more: the Mistral SDK percent-encodes ids (`ft%3A…`), and a proxy may double-encode. */
export function decodeId(raw: string): string {
  try {
    return /%[0-9a-fA-F]{2}/.test(raw) ? decodeURIComponent(raw) : raw;
  } catch (err) {
    // A lone '%' that is not an escape (URIError): the id is the raw text (it will simply not be found).
    if (!(err instanceof URIError)) throw err;
    return raw;
  }
}
