/**
 * The two ways a conversation reaches the instruct encoder, as the reference does it:
 * - train: message by message, as mistral-finetune does (no merging; ≤v3 lifts the system
 *   messages into one system prompt, joined with "\n\n"; v7+ keeps them in place);
 * - serve: mistral-common's chat-completion normaliser (consecutive same-role messages merged with
 *   "\n\n", ≤v3 tool results and all tool arguments JSON-normalised, an empty user turn inserted
 *   when a ≤v3 conversation does not start with one).
 */
import type { Chunk, Content, Conversation, Msg, ToolCallIn } from './conversation.ts';
import { dumpsPy, loadsPy, PyJsonError } from './py-json.ts';

export type Prepared = { messages: Msg[]; systemPrompt: string | null };

const JOIN = '\n\n';

function isEmpty(c: Content | null): boolean {
  return c === null || c.length === 0;
}

function joinSystemPrompts(messages: Msg[]): string | null {
  const parts: string[] = [];
  for (const m of messages) {
    if (m.role === 'system' && !isEmpty(m.content)) {
      const agg = aggregateContents([m.content]);
      if (typeof agg !== 'string') throw new Error('system messages can only contain text');
      parts.push(agg);
    }
  }
  return parts.length ? parts.join(JOIN) : null;
}

/** Train mode: the messages as written. */
export function prepareTrain(conv: Conversation, version: number): Prepared {
  if (version >= 7) return { messages: conv.messages, systemPrompt: null };
  return {
    messages: conv.messages.filter((m) => m.role !== 'system'),
    systemPrompt: joinSystemPrompts(conv.messages),
  };
}

/** mistral-common's `_aggregate_content_chunks`: text joined with "\n\n", images kept in place. */
function aggregateContents(contents: (Content | null)[]): Content {
  const all: Chunk[] = [];
  const cur: string[] = [];
  const flush = (): void => {
    if (cur.length) all.push({ type: 'text', text: cur.join('') });
    cur.length = 0;
  };
  for (const c of contents) {
    if (c === null || c.length === 0) continue;
    if (typeof c === 'string') {
      cur.push((cur.length ? JOIN : '') + c);
      continue;
    }
    for (const k of c) {
      if (k.type === 'text') {
        if (k.text) cur.push((cur.length ? JOIN : '') + k.text);
      } else {
        flush();
        all.push(k);
      }
    }
  }
  if (all.length === 0) return cur.join('');
  flush();
  return all;
}

/** `_normalize_json_content`: "" -> "{}", JSON re-dumped, anything else kept. */
function normalizeJson(s: string): string {
  if (s.length === 0) return '{}';
  try {
    return dumpsPy(loadsPy(s));
  } catch (e) {
    if (e instanceof PyJsonError) return s;
    throw e;
  }
}

function textOf(c: Content): string {
  const agg = aggregateContents([c]);
  if (typeof agg !== 'string') throw new Error('tool messages can only contain text');
  return agg;
}

function aggregateGroup(group: Msg[], version: number): Msg[] {
  const first = group[0];
  if (!first) return [];
  switch (first.role) {
    case 'system':
      return version >= 7 ? group.map((m) => ({ role: 'system', content: aggregateContents([m.content]) })) : [];
    case 'user':
      return [{ role: 'user', content: aggregateContents(group.map((m) => m.content)) }];
    case 'tool':
      return group.map((m) => {
        if (m.role !== 'tool') throw new Error('unreachable: mixed tool group');
        const text = textOf(m.content);
        return { ...m, content: version >= 7 ? text : normalizeJson(text) };
      });
    case 'assistant': {
      const calls: ToolCallIn[] = [];
      for (const m of group) {
        if (m.role !== 'assistant') continue;
        if (version < 7 && m.toolCalls.length && !isEmpty(m.content)) {
          throw new Error('an assistant message cannot have both content and tool_calls before tokenizer v7');
        }
        for (const c of m.toolCalls) calls.push({ ...c, arguments: normalizeJson(c.arguments) });
      }
      const content = aggregateContents(group.map((m) => (m.role === 'assistant' ? m.content : null)));
      const prefix = group.some((m) => m.role === 'assistant' && m.prefix);
      return [{ role: 'assistant', content, toolCalls: calls, weight: null, prefix }];
    }
  }
}

/** Serve mode: the normaliser mistral-common applies to a chat-completion request. */
export function prepareServe(conv: Conversation, version: number): Prepared {
  const out: Msg[] = [];
  let group: Msg[] = [];
  // Weights are a training notion: a served conversation merges same-role runs whatever they say.
  for (const m of conv.messages) {
    const head = group[0];
    if (head && head.role !== m.role) {
      out.push(...aggregateGroup(group, version));
      group = [];
    }
    group.push(m);
  }
  out.push(...aggregateGroup(group, version));
  if (out.length === 0 || (version < 7 && out[0]?.role !== 'user')) out.unshift({ role: 'user', content: '' });
  return { messages: out, systemPrompt: version >= 7 ? null : joinSystemPrompts(conv.messages) };
}
