/**
 * One streamed chat completion: sends the conversation, calls back with the text and tool calls as
 * they grow, and resolves with the final assistant turn. Abortable (the Stop button, leaving the page).
 */
import type { Api } from './api.ts';
import { chatChunk } from './schemas.ts';
import { readEvents } from './sse.ts';

export type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };
export type ToolCall = { name: string; arguments: string };
export type ChatOptions = { model: string; messages: ChatMessage[]; temperature: number; maxTokens: number; tools: unknown[] | null; toolChoice: string };
export type Partial = { text: string; toolCalls: ToolCall[]; finishReason: string | null };

function requestBody(o: ChatOptions): Record<string, unknown> {
  const body: Record<string, unknown> = { model: o.model, messages: o.messages, temperature: o.temperature, max_tokens: o.maxTokens, stream: true };
  if (o.tools?.length) Object.assign(body, { tools: o.tools, tool_choice: o.toolChoice });
  return body;
}

/** Streams one answer; `onPartial` sees the whole answer so far after each chunk. */
export async function streamChat(api: Api, o: ChatOptions, onPartial: (p: Partial) => void, signal: AbortSignal): Promise<Partial> {
  const res = await api.send('POST', '/v1/chat/completions', requestBody(o), signal);
  if (!res.body) throw new Error('The server sent no stream.');
  const out: Partial = { text: '', toolCalls: [], finishReason: null };
  for await (const event of readEvents(res.body)) {
    const choice = chatChunk.parse(event).choices.find((c) => c.index === 0);
    if (!choice) continue;
    out.text += choice.delta.content ?? '';
    for (const [i, call] of (choice.delta.tool_calls ?? []).entries()) {
      const slot = (out.toolCalls[call.index ?? i] ??= { name: '', arguments: '' });
      slot.name += call.function?.name ?? '';
      slot.arguments += call.function?.arguments ?? '';
    }
    out.finishReason = choice.finish_reason ?? out.finishReason;
    onPartial(out);
  }
  return out;
}
