/**
 * The CLI's one HTTP client for a running Atelier server (like the SDKs: a base URL and a Bearer
 * API key). JSON in and out; an error answer becomes ApiRequestError with the server's message, an
 * unreachable server ServerUnreachableError, so commands can map them to exit codes (docs/cli.md).
 */
export type ClientOptions = { url: string; apiKey: string };

/** The server answered with an error status. */
export class ApiRequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(`${status}: ${message}`);
  }
}

/** Nothing answered at the URL (refused, DNS, reset). */
export class ServerUnreachableError extends Error {}

type Query = Record<string, string | number | boolean | undefined>;
type RequestOptions = { query?: Query; json?: unknown; body?: FormData; signal?: AbortSignal };

/** The human part of an error body: Mistral/OpenAI `message` or `error.message`, FastAPI `detail`, else the text. */
function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: { message?: unknown }; detail?: unknown };
    const m = body.error?.message ?? body.message ?? body.detail;
    return typeof m === 'string' ? m : JSON.stringify(m ?? body);
  } catch {
    return text.slice(0, 500) || 'no details';
  }
}

export class AtelierClient {
  readonly url: string;
  constructor(private readonly opts: ClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
  }

  /** Sends one request; resolves to the response once its status is a success. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const url = new URL(`${this.url}${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.apiKey}` };
    if (opts.json !== undefined) headers['content-type'] = 'application/json';
    const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body;
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, signal: opts.signal });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new ServerUnreachableError(`cannot reach ${this.url} (${err instanceof Error ? (err.cause as Error | undefined)?.message ?? err.message : String(err)}); is 'atelier serve' running there? Set --url or ATELIER_URL`);
    }
    if (!res.ok) throw new ApiRequestError(res.status, errorMessage(await res.text()));
    return res;
  }

  /** A JSON request and its parsed JSON answer. */
  async json<T = Record<string, unknown>>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await (await this.send(method, path, opts)).json()) as T;
  }
}

/** `/v1/...` path segment for an id (model ids contain ':'). */
export function seg(id: string): string {
  return encodeURIComponent(id);
}

/** Reads a text/event-stream body, yielding each `data:` payload until `[DONE]`. */
export async function* sseData(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        yield data;
      }
      end = buffer.indexOf('\n\n');
    }
  }
}
