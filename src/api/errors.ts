/**
 * The one registry of API error codes: HTTP status, error type and message template. Routes throw
 * `new ApiError(code, params)`; the error handler (app.ts) renders every error in the body both
 * SDKs accept (reference §0.4):
 * `{object:"error", message, type, param, code, detail? (422 only), error:{message, type, param, code}}`.
 * To add a code: add an entry here and a row to the "Errors" table in docs/architecture.md (a test
 * checks both ways).
 */

type ErrorSpec = { status: number; type: string; message: string };

export const errorCodes = {
  invalid_api_key: { status: 401, type: 'authentication_error', message: 'Missing or invalid API key: send the header Authorization: Bearer <key>.' },
  route_not_found: { status: 404, type: 'invalid_request_error', message: 'No route {method} {url}.' },
  file_not_found: { status: 404, type: 'invalid_request_error', message: "No file with id '{id}' in this workspace." },
  invalid_json: { status: 400, type: 'invalid_request_error', message: 'The request body is not valid JSON: {reason}' },
  invalid_request: { status: 400, type: 'invalid_request_error', message: '{reason}' },
  invalid_multipart: { status: 400, type: 'invalid_request_error', message: 'The multipart body is malformed ({reason}): send multipart/form-data with a boundary and complete parts.' },
  uri_too_long: { status: 414, type: 'invalid_request_error', message: 'A path segment of the URL is longer than {max} characters.' },
  headers_too_large: { status: 431, type: 'invalid_request_error', message: 'The request headers are larger than the server accepts.' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', message: "Content-Type '{contentType}' is not accepted here; send {expected}." },
  body_too_large: { status: 413, type: 'invalid_request_error', message: 'The request body is larger than the limit for this route.' },
  validation_failed: { status: 422, type: 'invalid_request_error', message: 'Invalid {where}: {summary}' },
  missing_file: { status: 400, type: 'invalid_request_error', message: "The multipart form has no 'file' part: send the file's bytes in a part named 'file'." },
  file_too_large: { status: 413, type: 'invalid_request_error', message: 'The file is larger than {maxBytes} bytes (setting maxFileBytes / ATELIER_MAX_FILE_BYTES).' },
  signature_invalid: { status: 403, type: 'permission_error', message: 'The signed URL is invalid: ask for a new one with GET /v1/files/{id}/url.' },
  signature_expired: { status: 403, type: 'permission_error', message: 'The signed URL has expired: ask for a new one with GET /v1/files/{id}/url.' },
  job_not_found: { status: 404, type: 'invalid_request_error', message: "No fine-tuning job with id '{id}' in this workspace." },
  job_conflict: { status: 409, type: 'invalid_request_error', message: '{reason}' },
  job_wrong_state: { status: 409, type: 'invalid_request_error', message: '{reason}' },
  unknown_model: { status: 400, type: 'invalid_request_error', message: '{reason}' },
  invalid_job: { status: 400, type: 'invalid_request_error', message: '{reason}' },
  model_not_found: { status: 404, type: 'invalid_request_error', message: "No model with id '{id}' (list them with GET /v1/models)." },
  model_wrong_type: { status: 400, type: 'invalid_request_error', message: "'{id}' is a {type} model; {use}" },
  model_not_fine_tuned: { status: 400, type: 'invalid_request_error', message: "'{id}' is a base model; only fine-tuned models can be {action}." },
  export_invalid: { status: 400, type: 'invalid_request_error', message: '{reason}' },
  import_too_large: { status: 413, type: 'invalid_request_error', message: 'The adapter tar is larger than {maxBytes} bytes (setting importMaxBytes / ATELIER_IMPORT_MAX_BYTES).' },
  engine_failed: { status: 500, type: 'server_error', message: 'The serving engine failed: {reason}' },
  internal_error: { status: 500, type: 'server_error', message: 'Internal server error (request id {requestId}); the server log has the details.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCodes;

/** One item of a 422 body's `detail`, FastAPI's shape (the Mistral SDK parses it). */
export type DetailItem = { loc: (string | number)[]; msg: string; type: string };

export type ErrorBody = {
  object: 'error';
  message: string;
  type: string;
  param: string | null;
  code: string;
  detail?: DetailItem[];
  error: { message: string; type: string; param: string | null; code: string };
};

function fill(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in params ? String(params[k]) : m));
}

/** A typed API error: a registered code, the values for its message, and optionally the offending parameter and 422 detail. */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;

  constructor(
    readonly code: ErrorCode,
    readonly params: Record<string, string | number> = {},
    readonly extra: { param?: string; detail?: DetailItem[]; headers?: Record<string, string> } = {},
  ) {
    const spec: ErrorSpec = errorCodes[code];
    super(fill(spec.message, params));
    this.status = spec.status;
    this.type = spec.type;
  }

  /** The body both dialects parse. */
  toBody(): ErrorBody {
    const param = this.extra.param ?? null;
    const body: ErrorBody = {
      object: 'error',
      message: this.message,
      type: this.type,
      param,
      code: this.code,
      error: { message: this.message, type: this.type, param, code: this.code },
    };
    if (this.status === 422) return { ...body, detail: this.extra.detail ?? [] };
    return body;
  }
}
