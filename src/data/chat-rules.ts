/**
 * The rules for a chat (instruct / function-calling / vision) training sample, following Mistral's
 * fine-tuning docs where they are stricter than mistral-common (docs/data-errors.md lists every
 * decision). The checks never throw: every problem becomes a coded LineProblem.
 */
import { excerpt } from './errors.ts';
import { checkJsonSchema } from './json-schema-check.ts';
import {
  checkContent, checkRole, checkWeightAndPrefix, isObject, Problems, ROLES, where,
  type ImageLimits, type Obj, type Role,
} from './message-rules.ts';

const TOOL_CALL_ID = /^[a-zA-Z0-9]{9}$/;
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Counts one chat sample contributes to the statistics. */
export type ChatCounts = { messages: number; assistantTurns: number; trainedTurns: number; toolCalls: number; images: number };

export type ChatLimits = ImageLimits & { maxImagesPerSample: number };

// Role transitions mistral-common refuses (validator.py), plus tool → user, which the docs refuse:
// a tool result must be answered by the assistant.
const FORBIDDEN_AFTER: Record<Role, readonly Role[]> = {
  system: [],
  user: [],
  assistant: ['system'],
  tool: ['system', 'user'],
};

type Call = { id: string; name: string };

/** Checks a chat sample (an object with `messages`); adds problems to `p` and returns its counts. */
export function checkChatSample(sample: Obj, limits: ChatLimits, p: Problems): ChatCounts {
  const counts: ChatCounts = { messages: 0, assistantTurns: 0, trainedTurns: 0, toolCalls: 0, images: 0 };
  const declared = checkTools(sample, p);
  if (!('messages' in sample)) {
    p.add('messages_missing', `the sample has no "messages" list; each line must be {"messages": [...]} (found keys: ${excerpt(Object.keys(sample))})`);
    return counts;
  }
  const messages = sample.messages;
  if (!Array.isArray(messages)) {
    p.add('messages_not_list', `"messages" must be a list of messages; found ${excerpt(messages)}`);
    return counts;
  }
  if (messages.length === 0) {
    p.add('messages_empty', '"messages" is empty; a training sample needs at least one assistant message');
    return counts;
  }
  counts.messages = messages.length;
  checkMessages(messages, declared, limits, p, counts);
  if (counts.images > limits.maxImagesPerSample) {
    p.add('images_too_many', `the sample has ${counts.images} images, above the limit of ${limits.maxImagesPerSample}; split it into several samples`);
  }
  return counts;
}

function checkMessages(messages: unknown[], declared: Set<string> | null, limits: ChatLimits, p: Problems, counts: ChatCounts): void {
  const seenIds = new Set<string>();
  let pending: { at: number; calls: Map<string, string> } | null = null;
  let prev: Role | null = null;
  let systems = 0;
  messages.forEach((raw, i) => {
    if (!isObject(raw)) {
      p.add('message_not_object', `${where(i)} must be an object {"role": …, "content": …}; found ${excerpt(raw)}`);
      prev = null;
      return;
    }
    const role = checkRole(raw, i, ROLES, p);
    if (role === null) {
      prev = null;
      return;
    }
    const info = checkContent(raw, i, role, limits, p);
    counts.images += info.images;
    checkWeightAndPrefix(raw, i, role, p);
    if (role === 'system' && ++systems === 2) p.add('system_multiple', `${where(i, role)} is a second system message; merge the system messages into one`);
    if (role !== 'assistant' && 'tool_calls' in raw && raw.tool_calls !== null && raw.tool_calls !== undefined) {
      p.add('tool_calls_not_assistant', `${where(i, role)} has tool_calls; only assistant messages may call tools`);
    }
    if (role === 'tool') {
      checkToolResult(raw, i, pending, p);
    } else {
      if (pending && pending.calls.size > 0) {
        const ids = [...pending.calls.keys()].join(', ');
        p.add('tool_call_unanswered', `${where(pending.at, 'assistant')} calls ${ids} but ${where(i, role)} comes before their tool results; add a tool message per call`);
      } else if (prev && FORBIDDEN_AFTER[prev].includes(role)) {
        p.add('role_order', `${where(i, role)} may not follow a ${prev} message${prev === 'tool' ? '; add the assistant message that uses the tool result' : ''}`);
      }
      pending = null;
    }
    if (role === 'assistant') {
      const calls = checkAssistant(raw, i, info.nonEmpty, declared, seenIds, p);
      counts.assistantTurns += 1;
      if (raw.weight !== 0) counts.trainedTurns += 1;
      counts.toolCalls += calls.length;
      if (calls.length) pending = { at: i, calls: new Map(calls.map((c) => [c.id, c.name])) };
    } else if (role === 'tool' && !info.present) {
      p.add('content_missing', `${where(i, role)} has no "content"; put the tool's result in it (an empty string is allowed)`);
    } else if (role !== 'tool' && !info.nonEmpty) {
      const code = info.present ? 'content_empty' : 'content_missing';
      p.add(code, `${where(i, role)} ${info.present ? 'has empty content' : 'has no "content"'}; give it the message text`);
    }
    prev = role;
  });
  const last = messages[messages.length - 1];
  if (isObject(last) && last.role !== 'assistant') {
    p.add('last_not_assistant', `the last message is ${excerpt(last.role)}, but a training sample must end with an assistant message (\`atelier data reformat\` drops trailing non-assistant messages)`);
  }
}

/** Checks an assistant message's content / tool_calls rule and its calls; returns the well-formed calls. */
function checkAssistant(msg: Obj, i: number, hasContent: boolean, declared: Set<string> | null, seenIds: Set<string>, p: Problems): Call[] {
  const at = where(i, 'assistant');
  const raw = msg.tool_calls;
  const hasCalls = Array.isArray(raw) ? raw.length > 0 : raw !== undefined && raw !== null;
  if (hasContent && hasCalls) {
    p.add('assistant_content_and_tool_calls', `${at} has both content and tool_calls; keep one of them (put the text in a separate assistant message)`);
  } else if (!hasContent && !hasCalls) {
    const present = msg.content !== undefined && msg.content !== null;
    p.add(present ? 'content_empty' : 'content_missing', `${at} ${present ? 'has empty content' : 'has neither content nor tool_calls'}; give it the reply text or tool calls`);
  }
  if (!hasCalls) return [];
  if (!Array.isArray(raw)) {
    p.add('tool_calls_invalid', `${at} tool_calls must be a list; found ${excerpt(raw)}`);
    return [];
  }
  const calls: Call[] = [];
  raw.forEach((call, k) => {
    const c = checkToolCall(call, `${at} tool_calls[${k}]`, declared, p);
    if (!c) return;
    if (seenIds.has(c.id)) p.add('tool_call_id_duplicate', `${at} tool_calls[${k}] reuses id "${c.id}"; every call in a sample needs its own id`);
    seenIds.add(c.id);
    calls.push(c);
  });
  return calls;
}

function checkToolCall(call: unknown, at: string, declared: Set<string> | null, p: Problems): Call | null {
  if (!isObject(call) || !isObject(call.function)) {
    p.add('tool_calls_invalid', `${at} must be {"id": …, "type": "function", "function": {"name": …, "arguments": "…"}}; found ${excerpt(call)}`);
    return null;
  }
  if ('type' in call && call.type !== 'function') p.add('tool_calls_invalid', `${at} has type ${excerpt(call.type)}; the only call type is "function"`);
  let ok = true;
  const id = call.id;
  if (typeof id !== 'string' || !TOOL_CALL_ID.test(id)) {
    p.add('tool_call_id_invalid', `${at} has id ${excerpt(id ?? null)}; a tool call id must be exactly 9 letters or digits (^[a-zA-Z0-9]{9}$), e.g. "TX92Jm8Zi"`);
    ok = false;
  }
  const fn = call.function;
  const name = fn.name;
  if (typeof name !== 'string' || !FUNCTION_NAME.test(name)) {
    p.add('function_name_invalid', `${at} function name ${excerpt(name ?? null)} must match ^[a-zA-Z0-9_-]{1,64}$`);
    ok = false;
  } else if (declared && !declared.has(name)) {
    p.add('tool_call_undeclared', `${at} calls "${name}", which is not declared in "tools"; add it to "tools" or fix the name`);
  }
  checkArguments(fn.arguments, at, p);
  return ok ? { id: id as string, name: name as string } : null;
}

function checkArguments(args: unknown, at: string, p: Problems): void {
  const fix = 'arguments must be a string holding a JSON object, e.g. "{\\"city\\": \\"Paris\\"}"';
  if (typeof args !== 'string') {
    p.add('tool_call_arguments_invalid', `${at} ${fix}; found ${excerpt(args ?? null)}`);
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    p.add('tool_call_arguments_invalid', `${at} arguments ${excerpt(args)} are not valid JSON; ${fix}`);
    return;
  }
  if (!isObject(parsed)) p.add('tool_call_arguments_invalid', `${at} arguments ${excerpt(args)} are JSON but not an object; ${fix}`);
}

function checkToolResult(msg: Obj, i: number, pending: { at: number; calls: Map<string, string> } | null, p: Problems): void {
  const at = where(i, 'tool');
  const id = msg.tool_call_id;
  if (typeof id !== 'string' || !TOOL_CALL_ID.test(id)) {
    p.add('tool_result_id_invalid', `${at} has tool_call_id ${excerpt(id ?? null)}; set it to the 9-character id of the call it answers`);
    return;
  }
  if (!pending) {
    p.add('tool_result_unmatched', `${at} (tool_call_id "${id}") does not follow an assistant message with tool_calls; put tool results right after the call`);
    return;
  }
  const name = pending.calls.get(id);
  if (name === undefined) {
    const open = [...pending.calls.keys()];
    p.add('tool_result_unmatched', `${at} answers "${id}", which is not an unanswered call of ${where(pending.at, 'assistant')}${open.length ? ` (unanswered: ${open.join(', ')})` : ' (all its calls are answered)'}`);
    return;
  }
  pending.calls.delete(id);
  if (typeof msg.name === 'string' && msg.name !== name) {
    p.add('tool_result_name_mismatch', `${at} has name "${msg.name}" but call "${id}" is to "${name}"; fix or remove the name`);
  }
}

/** Checks `tools`; returns the declared function names (null when absent or unusable). */
function checkTools(sample: Obj, p: Problems): Set<string> | null {
  if (!('tools' in sample) || sample.tools === null || sample.tools === undefined) return new Set();
  const tools = sample.tools;
  if (!Array.isArray(tools)) {
    p.add('tools_invalid', `"tools" must be a list of {"type": "function", "function": {...}}; found ${excerpt(tools)}`);
    return null;
  }
  const names = new Set<string>();
  tools.forEach((tool, k) => {
    const at = `tools[${k}]`;
    if (!isObject(tool) || !isObject(tool.function)) {
      p.add('tools_invalid', `${at} must be {"type": "function", "function": {"name", "description", "parameters"}}; found ${excerpt(tool)}`);
      return;
    }
    if ('type' in tool && tool.type !== 'function') p.add('tools_invalid', `${at} has type ${excerpt(tool.type)}; the only tool type is "function"`);
    const fn = tool.function;
    if (typeof fn.name !== 'string' || !FUNCTION_NAME.test(fn.name)) {
      p.add('function_name_invalid', `${at}.function.name ${excerpt(fn.name ?? null)} must match ^[a-zA-Z0-9_-]{1,64}$`);
    } else if (names.has(fn.name)) {
      p.add('tool_name_duplicate', `${at} declares "${fn.name}" a second time; each tool name must be unique`);
    } else names.add(fn.name);
    if (typeof fn.description !== 'string' || !fn.description.trim()) {
      p.add('tool_description_missing', `${at}.function "${String(fn.name)}" needs a non-empty "description" string`);
    }
    checkParameters(fn.parameters, at, p);
  });
  return names;
}

function checkParameters(params: unknown, at: string, p: Problems): void {
  if (!isObject(params)) {
    p.add('tool_parameters_invalid', `${at}.function.parameters must be a JSON Schema object (use {} or {"type": "object", "properties": {}} when there are none); found ${excerpt(params ?? null)}`);
    return;
  }
  const bad = checkJsonSchema(params, `${at}.function.parameters`);
  if (bad) p.add('tool_parameters_invalid', `${bad} (JSON Schema draft 7)`);
}
