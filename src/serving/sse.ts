/**
 * Server-sent events as both SDKs parse them (reference §5.3): `text/event-stream`, one
 * `data: <json>` per event followed by a blank line, and `data: [DONE]` at the end.
 */
import type { ServerResponse } from 'node:http';

/** Writes the status line and headers of an event stream. */
export function openEventStream(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
}

/** Sends one event with a JSON payload. */
export function sendEvent(res: ServerResponse, payload: unknown): void {
  if (!res.writableEnded) res.write(`data: ${JSON.stringify(payload)}\n\n`);
}

/** Sends `data: [DONE]` and ends the response. */
export function endEventStream(res: ServerResponse, done = true): void {
  if (res.writableEnded) return;
  if (done) res.write('data: [DONE]\n\n');
  res.end();
}
