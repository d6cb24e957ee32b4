/**
 * Tool calls in replies: ids, OpenAI's shape with `arguments` always a JSON string (reference §7:
 * a string satisfies both SDKs), and the grammar that forces a call in the JSON-list layout
 * (`[TOOL_CALLS] [{"name": …, "arguments": {…}}]`, tokenizer versions before v11).
 */
import { randomInt } from 'node:crypto';
import type { JsonSchema } from './json-grammar.ts';

export type ToolCall = { id: string; type: 'function'; function: { name: string; arguments: string }; index: number };

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A tool call id as Mistral makes them: 9 alphanumeric characters. */
export function makeToolCallId(): string {
  let id = '';
  for (let i = 0; i < 9; i++) id += ALNUM[randomInt(ALNUM.length)];
  return id;
}

/** OpenAI-shaped calls from the tokenizer's parse; model-written ids are kept when well formed. */
export function toToolCalls(parsed: { id: string | null; name: string; arguments: string }[]): ToolCall[] {
  return parsed.map((c, index) => ({
    id: c.id && /^[A-Za-z0-9]{9}$/.test(c.id) ? c.id : makeToolCallId(),
    type: 'function',
    function: { name: c.name, arguments: c.arguments },
    index,
  }));
}

/**
 * The schema a forced tool call must follow in the JSON-list format: a non-empty list of calls to
 * the named tools (no other keys) with arguments matching each tool's parameters.
 */
export function toolCallListSchema(tools: { name: string; parameters: Record<string, unknown> }[], parallel = true): JsonSchema {
  // With several tools the grammar cannot tie arguments to the name chosen (anyOf branches are
  // picked by first character, and every call starts with '{'), so only the name is constrained.
  const args = tools.length === 1 && Object.keys(tools[0].parameters).length ? tools[0].parameters : { type: 'object' };
  const items: JsonSchema = {
    type: 'object',
    properties: { name: { enum: tools.map((t) => t.name) }, arguments: args },
    required: ['name', 'arguments'],
    additionalProperties: false,
  };
  // Forced means at least one call, never `[]`; parallel_tool_calls false means exactly one.
  return { type: 'array', items, minItems: 1, ...(parallel ? {} : { maxItems: 1 }) };
}
