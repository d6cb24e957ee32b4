/**
 * Reads a model's generated ids back into an assistant message: text, then tool calls in the
 * version's layout (v2-v7: `[TOOL_CALLS]` + JSON list; v11: `[TOOL_CALLS]name[CALL_ID]id[ARGS]json`
 * per call; v13: `[TOOL_CALLS]name[ARGS]json` per call).
 */
import type { TextBackend } from './backend.ts';
import { decodeIds } from './decode.ts';
import { dumpsPy, loadsPy, PyJsonError, type PyValue } from './py-json.ts';

export type ParsedToolCall = { id: string | null; name: string; arguments: string };
export type AssistantOutput = { content: string; toolCalls: ParsedToolCall[] };

/** Generated ids that start a tool call but do not form a valid one (a model's mistake, not a bug). */
export class ModelOutputError extends Error {
  override name = 'ModelOutputError';
}

/** Splits generated ids into content and tool calls; throws ModelOutputError when the tool-call part is not valid. */
export function parseOutputIds(backend: TextBackend, version: number, ids: readonly number[]): AssistantOutput {
  const eos = ids.indexOf(backend.eosId);
  const body = eos >= 0 ? ids.slice(0, eos) : ids;
  const tc = backend.specialId('[TOOL_CALLS]');
  const first = tc === undefined ? -1 : body.indexOf(tc);
  if (first < 0) return { content: decodeIds(backend, body), toolCalls: [] };
  const content = decodeIds(backend, body.slice(0, first));
  if (version < 11) return { content, toolCalls: parseJsonCalls(decodeIds(backend, body.slice(first + 1))) };
  const calls: ParsedToolCall[] = [];
  const args = backend.specialId('[ARGS]');
  const callId = backend.specialId('[CALL_ID]');
  let i = first;
  while (i < body.length && body[i] === tc) {
    let end = i + 1;
    while (end < body.length && body[end] !== tc) end++;
    const part = body.slice(i + 1, end);
    const a = args === undefined ? -1 : part.indexOf(args);
    if (a < 0) throw new ModelOutputError('tool call without [ARGS] in the model output');
    const c = callId === undefined ? -1 : part.indexOf(callId);
    const nameEnd = c >= 0 && c < a ? c : a;
    calls.push({
      name: decodeIds(backend, part.slice(0, nameEnd)).trim(),
      id: c >= 0 && c < a ? decodeIds(backend, part.slice(c + 1, a)).trim() : null,
      arguments: normalizeArgs(decodeIds(backend, part.slice(a + 1))),
    });
    i = end;
  }
  return { content, toolCalls: calls };
}

function normalizeArgs(s: string): string {
  try {
    return dumpsPy(loadsPy(s));
  } catch (e) {
    if (e instanceof PyJsonError) return s.trim();
    throw e;
  }
}

function parseJsonCalls(text: string): ParsedToolCall[] {
  let v: PyValue;
  try {
    v = loadsPy(text.trim());
  } catch (e) {
    if (e instanceof PyJsonError) throw new ModelOutputError(`tool calls in the model output are not JSON: ${e.message}`);
    throw e;
  }
  const list = Array.isArray(v) ? v : [v];
  return list.map((c) => {
    if (!(c instanceof Map) || typeof c.get('name') !== 'string') throw new ModelOutputError('a tool call in the model output has no name');
    const args = c.get('arguments') ?? new Map();
    const id = c.get('id');
    return {
      name: c.get('name') as string,
      id: typeof id === 'string' ? id : null,
      arguments: typeof args === 'string' ? args : dumpsPy(args),
    };
  });
}
