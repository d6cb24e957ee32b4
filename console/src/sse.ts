/**
 * Reads a `text/event-stream` body (chat completions with stream: true) and yields each event's
 * JSON `data`, stopping at `data: [DONE]`. An error event (`{object: "error", message}`) throws.
 */
import { ApiFailure } from './api.ts';

function parseEvent(block: string): unknown {
  const data = block
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trimStart())
    .join('\n');
  if (data === '' || data === '[DONE]') return data === '[DONE]' ? DONE : null;
  const value = JSON.parse(data) as { object?: unknown; message?: unknown };
  if (value.object === 'error') throw new ApiFailure(500, typeof value.message === 'string' ? value.message : 'the stream failed');
  return value;
}

const DONE = Symbol('done');

/** Each event's parsed data, in order. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event === DONE) return;
      if (event !== null) yield event;
    }
  }
}
