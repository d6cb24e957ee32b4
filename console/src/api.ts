/**
 * The console's only way to the server: same-origin calls to /v1 with the user's key as a Bearer
 * token. Replies are parsed with zod where they enter (schemas.ts); failures become ApiFailure with
 * the server's message, which the pages show as is (the API's messages say what to change).
 */
import type { ZodType } from 'zod';

/** A non-2xx reply (or a network failure, status 0) with the server's message. */
export class ApiFailure extends Error {
  constructor(readonly status: number, message: string, readonly code: string | null = null) {
    super(message);
    this.name = 'ApiFailure';
  }
}

function jsonOrNull(text: string): { message?: unknown; code?: unknown } | null {
  try {
    return JSON.parse(text) as { message?: unknown; code?: unknown };
  } catch {
    return null; // not JSON (a proxy's page, say): the status line is all there is to show
  }
}

async function failureOf(res: Response): Promise<ApiFailure> {
  const body = jsonOrNull(await res.text());
  if (body && typeof body.message === 'string') return new ApiFailure(res.status, body.message, typeof body.code === 'string' ? body.code : null);
  return new ApiFailure(res.status, `${res.status} ${res.statusText || 'error'}`);
}

export type Query = Record<string, string | number | boolean | undefined | null>;

function withQuery(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** A client bound to one API key. */
export class Api {
  constructor(readonly key: string) {}

  private headers(json: boolean): Record<string, string> {
    return json ? { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' } : { authorization: `Bearer ${this.key}` };
  }

  /** The raw response of a call; throws ApiFailure on a non-2xx status. */
  async send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(path, { method, headers: this.headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new ApiFailure(0, 'The server did not answer; is `atelier serve` still running?');
    }
    if (!res.ok) throw await failureOf(res);
    return res;
  }

  /** A JSON call whose reply is parsed with `schema`. */
  async json<T>(schema: ZodType<T>, method: string, path: string, opts: { query?: Query; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
    const res = await this.send(method, withQuery(path, opts.query), opts.body, opts.signal);
    return schema.parse(await res.json());
  }

  /** Uploads a file as multipart (XHR, for upload progress); `onProgress` gets 0..1. */
  upload<T>(schema: ZodType<T>, file: File, purpose: string, onProgress: (fraction: number) => void): Promise<T> {
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', file, file.name);
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/v1/files');
      xhr.setRequestHeader('authorization', `Bearer ${this.key}`);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiFailure(0, 'The upload was interrupted; is the server still running?'));
      xhr.onload = () => {
        if (xhr.status < 200 || xhr.status >= 300) return void failureOf(new Response(xhr.responseText, { status: xhr.status })).then(reject);
        try {
          resolve(schema.parse(JSON.parse(xhr.responseText)));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      xhr.send(form);
    });
  }

  /** Saves a response body (a file's bytes, an adapter tar) under `filename` through a temporary link. */
  async download(path: string, filename: string): Promise<void> {
    const blob = await (await this.send('GET', path)).blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
