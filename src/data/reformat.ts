/**
 * Rewrites common near-miss formats into Mistral's fine-tuning format: OpenAI legacy
 * `functions`/`function_call`, role `function`, ShareGPT `conversations` ({from, value}), `text`
 * instead of `content`, object arguments, missing call ids, trailing non-assistant turns.
 * Unlike mistral-finetune's reformat_data.py it never drops a line: a sample it cannot repair is
 * written unchanged and reported with its line number. Generated call ids are derived from the
 * line and position, so the same input always gives the same output.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { isObject, type Obj } from './message-rules.ts';
import { readRawLines } from './split.ts';

const REFORMAT_CHANGES = [
  'sharegpt_converted', 'functions_to_tools', 'tools_wrapped', 'function_call_to_tool_calls', 'function_role_to_tool',
  'tool_call_id_generated', 'tool_call_type_added', 'arguments_stringified', 'empty_content_removed',
  'text_to_content', 'trailing_turns_removed',
] as const;
export type ReformatChange = (typeof REFORMAT_CHANGES)[number];

export type ReformatReport = {
  lines: number;
  changed_lines: number;
  changes: Record<ReformatChange, number>;
  /** Lines written unchanged because they could not be repaired. */
  unrepaired: { line: number; reason: string }[];
};

type Result = { sample: Obj; changes: ReformatChange[] } | { error: string };

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A 9-character [A-Za-z0-9] call id derived from the line, message and call positions. */
function deterministicId(line: number, message: number, call: number): string {
  const digest = createHash('sha256').update(`${line}:${message}:${call}`).digest();
  let id = '';
  for (let i = 0; i < 9; i += 1) id += BASE62[digest[i] % 62];
  return id;
}

/** Reformats one parsed line; `line` seeds the generated ids. */
export function reformatSample(input: Obj, line: number): Result {
  const s: Obj = structuredClone(input);
  const changes: ReformatChange[] = [];
  if (!Array.isArray(s.messages) && Array.isArray(s.conversations)) {
    const converted = convertShareGpt(s, changes);
    if ('error' in converted) return converted;
  }
  if (!Array.isArray(s.messages)) return { error: 'no "messages" or ShareGPT "conversations" list' };
  fixTools(s, changes);
  const messages: unknown[] = s.messages;
  let open: { id: string; name: string }[] = [];
  for (let i = 0; i < messages.length; i += 1) {
    const m = messages[i];
    if (!isObject(m)) return { error: `messages[${i}] is not an object` };
    if (m.text !== undefined && m.content === undefined) {
      m.content = m.text;
      delete m.text;
      changes.push('text_to_content');
    }
    if (m.role === 'assistant') open = fixAssistant(m, line, i, changes);
    else if (m.role === 'function' || m.role === 'tool') {
      const error = fixToolMessage(m, i, open, changes);
      if (error) return { error };
    } else open = [];
  }
  let lastAssistant = messages.length - 1;
  while (lastAssistant >= 0 && !(isObject(messages[lastAssistant]) && (messages[lastAssistant] as Obj).role === 'assistant')) lastAssistant -= 1;
  if (lastAssistant === -1) return { error: 'no assistant message to train on' };
  if (lastAssistant < messages.length - 1) {
    for (let k = lastAssistant + 1; k < messages.length; k += 1) changes.push('trailing_turns_removed');
    messages.length = lastAssistant + 1;
  }
  return { sample: s, changes };
}

function fixTools(s: Obj, changes: ReformatChange[]): void {
  if (Array.isArray(s.functions) && s.tools === undefined) {
    s.tools = s.functions;
    delete s.functions;
    changes.push('functions_to_tools');
  }
  if (!Array.isArray(s.tools)) return;
  s.tools = s.tools.map((t) => {
    if (isObject(t) && t.function === undefined && typeof t.name === 'string') {
      changes.push('tools_wrapped');
      return { type: 'function', function: t };
    }
    return t;
  });
}

function fixAssistant(m: Obj, line: number, i: number, changes: ReformatChange[]): { id: string; name: string }[] {
  if (isObject(m.function_call) && m.tool_calls === undefined) {
    m.tool_calls = [{ function: m.function_call }];
    delete m.function_call;
    changes.push('function_call_to_tool_calls');
  }
  if (!Array.isArray(m.tool_calls) || m.tool_calls.length === 0) return [];
  const open: { id: string; name: string }[] = [];
  m.tool_calls.forEach((call, k) => {
    if (!isObject(call) || !isObject(call.function)) return;
    if (typeof call.id !== 'string' || !/^[a-zA-Z0-9]{9}$/.test(call.id)) {
      call.id = deterministicId(line, i, k);
      changes.push('tool_call_id_generated');
    }
    if (call.type === undefined) {
      call.type = 'function';
      changes.push('tool_call_type_added');
    }
    const fn = call.function;
    if (fn.arguments !== undefined && typeof fn.arguments !== 'string') {
      fn.arguments = JSON.stringify(fn.arguments);
      changes.push('arguments_stringified');
    }
    open.push({ id: call.id as string, name: String(fn.name) });
  });
  if (m.content === '' || m.content === null) {
    delete m.content;
    changes.push('empty_content_removed');
  }
  return open;
}

function fixToolMessage(m: Obj, i: number, open: { id: string; name: string }[], changes: ReformatChange[]): string | null {
  if (m.role === 'function') {
    m.role = 'tool';
    changes.push('function_role_to_tool');
  }
  const known = typeof m.tool_call_id === 'string' ? open.findIndex((c) => c.id === m.tool_call_id) : -1;
  if (known >= 0) {
    open.splice(known, 1);
    return null;
  }
  // Tie the result to the first unanswered call of the same function (or the first one at all).
  let k = typeof m.name === 'string' ? open.findIndex((c) => c.name === m.name) : -1;
  if (k < 0 && typeof m.name !== 'string') k = 0;
  if (k < 0 || k >= open.length) return `messages[${i}] is a tool result with no unanswered call to tie it to`;
  m.tool_call_id = open[k].id;
  open.splice(k, 1);
  changes.push('tool_call_id_generated');
  return null;
}

const SHAREGPT_ROLES: Record<string, string> = {
  human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', model: 'assistant', chatgpt: 'assistant', bing: 'assistant',
  system: 'system', 'function-call': 'call', function_call: 'call', 'function-response': 'tool', function_response: 'tool', observation: 'tool', tool: 'tool',
};

function convertShareGpt(s: Obj, changes: ReformatChange[]): { ok: true } | { error: string } {
  const messages: Obj[] = [];
  if (typeof s.system === 'string' && s.system.trim()) messages.push({ role: 'system', content: s.system });
  const turns = s.conversations as unknown[];
  for (let i = 0; i < turns.length; i += 1) {
    const t = turns[i];
    if (!isObject(t) || typeof t.value !== 'string') return { error: `conversations[${i}] is not {"from", "value": string}` };
    const role = SHAREGPT_ROLES[String(t.from)];
    if (!role) return { error: `conversations[${i}] has unknown "from" ${JSON.stringify(t.from)}` };
    if (role !== 'call') {
      messages.push({ role, content: t.value });
      continue;
    }
    const calls = parseCalls(t.value);
    if (!calls) return { error: `conversations[${i}] function call is not JSON {"name", "arguments"}` };
    messages.push({ role: 'assistant', tool_calls: calls.map((c) => ({ type: 'function', function: c })) });
  }
  if (typeof s.tools === 'string') {
    try {
      s.tools = JSON.parse(s.tools);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      return { error: '"tools" is a string that is not JSON' };
    }
  }
  s.messages = messages;
  delete s.conversations;
  delete s.system;
  changes.push('sharegpt_converted');
  return { ok: true };
}

function parseCalls(value: string): Obj[] | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return null;
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (!list.every((c) => isObject(c) && typeof c.name === 'string')) return null;
  return list.map((c) => {
    const o = c as Obj;
    return { name: o.name, arguments: typeof o.arguments === 'string' ? o.arguments : JSON.stringify(o.arguments ?? {}) };
  });
}

/** Reformats a JSONL file into `output`, line for line (no line is ever dropped). */
export async function reformatFile(input: string, output: string): Promise<ReformatReport> {
  const report: ReformatReport = {
    lines: 0, changed_lines: 0, unrepaired: [],
    changes: Object.fromEntries(REFORMAT_CHANGES.map((c) => [c, 0])) as Record<ReformatChange, number>,
  };
  const fd = openSync(output, 'w');
  try {
    for await (const raw of readRawLines(input)) {
      report.lines += 1;
      const out = reformatRawLine(raw, report.lines, report);
      if (typeof out === 'string') writeSync(fd, out);
      else writeSync(fd, out);
    }
  } finally {
    closeSync(fd);
  }
  return report;
}

function reformatRawLine(raw: Buffer, line: number, report: ReformatReport): Uint8Array | string {
  const keep = (reason: string) => {
    report.unrepaired.push({ line, reason });
    return raw;
  };
  if (!isUtf8(raw)) return keep('not valid UTF-8');
  const text = raw.toString('utf8').trim();
  if (!text) return keep('blank line');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return keep('not valid JSON');
  }
  if (!isObject(parsed)) return keep('not a JSON object');
  if (parsed.labels !== undefined) return `${text}\n`; // classifier lines have nothing to reformat
  const result = reformatSample(parsed, line);
  if ('error' in result) return keep(result.error);
  if (result.changes.length === 0) return `${text}\n`;
  report.changed_lines += 1;
  for (const c of result.changes) report.changes[c] += 1;
  return `${JSON.stringify(result.sample)}\n`;
}
