/**
 * Chat completion objects as both SDKs parse them (reference §5.2, §5.3, §6.3): a non-null
 * finish_reason, integer `created`, full `usage`, string tool-call arguments; chunks always carry
 * the `finish_reason` key, and the last one carries `usage`.
 */
import { randomUUID } from 'node:crypto';
import type { ChatResult, ChoiceDelta } from './complete-chat.ts';

export type CompletionMeta = { id: string; model: string; created: number };

/** A fresh completion id and timestamp for `model`. */
export function newCompletionMeta(model: string): CompletionMeta {
  return { id: `chatcmpl-${randomUUID().replaceAll('-', '')}`, model, created: Math.floor(Date.now() / 1000) };
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
      message: {
        role: 'assistant',
        content: c.toolCalls.length && !c.content ? null : c.content,
        tool_calls: c.toolCalls.length ? c.toolCalls : null,
        prefix: false,
        refusal: null,
      },
      finish_reason: c.finishReason,
      logprobs: null,
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
    choices: [{ index: d.index, delta, finish_reason: 'finishReason' in d ? d.finishReason : null, logprobs: null }],
  };
  if (usage) chunk.usage = usage;
  return chunk;
}
