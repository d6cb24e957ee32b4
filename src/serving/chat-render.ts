/**
 * Chat completion objects as both SDKs parse them (reference §5.2, §5.3, §6.3): a non-null
 * finish_reason, integer `created`, full `usage`, string tool-call arguments; chunks always carry
 * the `finish_reason` key, and the last one carries `usage`. Each dialect gets only its own fields:
 * Mistral's AssistantMessage forbids extra properties (no `refusal`, no `logprobs`), and OpenAI's
 * message has no `prefix`.
 */
import { randomUUID } from 'node:crypto';
import type { ChatResult, ChoiceDelta } from './complete-chat.ts';

export type ChatDialect = 'mistral' | 'openai';
export type CompletionMeta = { id: string; model: string; created: number; dialect: ChatDialect };

/** A fresh completion id and timestamp for `model`, rendered in `dialect`. */
export function newCompletionMeta(model: string, dialect: ChatDialect = 'mistral'): CompletionMeta {
  return { id: `chatcmpl-${randomUUID().replaceAll('-', '')}`, model, created: Math.floor(Date.now() / 1000), dialect };
}

function message(meta: CompletionMeta, c: ChatResult['choices'][number]): Record<string, unknown> {
  const m: Record<string, unknown> = {
    role: 'assistant',
    content: c.toolCalls.length && !c.content ? null : c.content,
    tool_calls: c.toolCalls.length ? c.toolCalls : null,
  };
  if (meta.dialect === 'openai') m.refusal = null;
  else m.prefix = false;
  return m;
}

/** The non-streaming reply. */
export function renderCompletion(meta: CompletionMeta, result: ChatResult): Record<string, unknown> {
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: result.choices.map((c) => ({
      index: c.index,
      message: message(meta, c),
      finish_reason: c.finishReason,
      ...(meta.dialect === 'openai' ? { logprobs: null } : {}),
    })),
    usage: result.usage,
  };
}

/** One stream chunk for a delta; `usage` only on the last chunk. */
export function renderChunk(meta: CompletionMeta, d: ChoiceDelta, first: boolean, usage?: ChatResult['usage']): Record<string, unknown> {
  const delta: Record<string, unknown> = {};
  if (first) delta.role = 'assistant';
  if ('finishReason' in d) {
    if (d.content || first) delta.content = d.content;
    if (d.toolCalls.length) delta.tool_calls = d.toolCalls;
  } else delta.content = d.content;
  const chunk: Record<string, unknown> = {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [{ index: d.index, delta, finish_reason: 'finishReason' in d ? d.finishReason : null, ...(meta.dialect === 'openai' ? { logprobs: null } : {}) }],
  };
  if (usage) chunk.usage = usage;
  return chunk;
}
