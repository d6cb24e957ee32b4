/**
 * The chat completion request as both SDKs send it (reference §5.1 and §6.3): one zod schema for
 * the union of their fields, unknown fields accepted (the SDKs add fields faster than we read
 * them), normalised into one `ChatParams` whatever the dialect.
 */
import { z } from 'zod';
import { ChatRequestError, imageUrlOf, type ChatImage } from './chat-images.ts';

const textChunk = z.looseObject({
  type: z.string().describe('text, thinking and image_url (user messages of vision models; a data URL as a string, {url} or {url, detail}) are accepted; other types answer 400'),
  text: z.string().optional(), thinking: z.unknown().optional(), image_url: z.unknown().optional(),
});
const content = z.union([z.string(), z.array(textChunk)]).nullish();

const toolCall = z.looseObject({
  id: z.string().nullish(),
  type: z.string().nullish(), // 1.15 leaves it out
  function: z.looseObject({ name: z.string(), arguments: z.union([z.string(), z.record(z.string(), z.unknown())]) }),
  index: z.number().int().nullish(),
});

const message = z.discriminatedUnion('role', [
  z.looseObject({ role: z.literal('system'), content }),
  z.looseObject({ role: z.literal('developer'), content }),
  z.looseObject({ role: z.literal('user'), content }),
  z.looseObject({ role: z.literal('assistant'), content, tool_calls: z.array(toolCall).nullish(), prefix: z.boolean().nullish() }),
  z.looseObject({ role: z.literal('tool'), content, tool_call_id: z.string().nullish(), name: z.string().nullish() }),
]);

const functionTool = z.looseObject({
  type: z.string().default('function'),
  function: z.looseObject({
    name: z.string().min(1),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }).optional(),
});

const toolChoice = z.union([
  z.enum(['auto', 'none', 'any', 'required']),
  z.looseObject({ type: z.string().optional(), function: z.looseObject({ name: z.string() }) }),
]);

const responseFormat = z.looseObject({
  type: z.enum(['text', 'json_object', 'json_schema']).optional(),
  json_schema: z.looseObject({
    name: z.string().optional(),
    description: z.string().nullish(),
    schema: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  }).nullish(),
});

export const chatRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  stream: z.boolean().nullish(),
  temperature: z.number().min(0).max(2).nullish().describe("0 to 2 (OpenAI's bound); Mistral-dialect requests are held to Mistral's 1.5"),
  top_p: z.number().gt(0).max(1).nullish(),
  max_tokens: z.number().int().min(0).nullish().describe('0 answers an empty completion (finish_reason length)'),
  max_completion_tokens: z.number().int().min(0).nullish(),
  random_seed: z.number().int().nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  n: z.number().int().min(1).nullish(),
  tools: z.array(functionTool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish().describe('false: a forced tool call is exactly one call'),
  response_format: responseFormat.nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish().describe('accepted; no effect'),
  frequency_penalty: z.number().min(-2).max(2).nullish().describe('accepted; no effect'),
  safe_prompt: z.boolean().nullish().describe('accepted; no effect (no safety system prompt is injected)'),
  prediction: z.looseObject({ type: z.string().optional(), content: z.string().optional() }).nullish().describe('accepted; no effect'),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Mistral's own bounds where they are tighter than OpenAI's (official spec: temperature 0..1.5). */
export const mistralChatBounds = z.looseObject({ temperature: z.number().min(0).max(1.5).nullish() });

export type ToolChoice = { kind: 'auto' | 'none' | 'required' } | { kind: 'function'; name: string };
export type ResponseFormat = { kind: 'text' } | { kind: 'json'; schema: Record<string, unknown> | null };

/** A dataset-line shaped conversation (what src/tokenizer encodes) plus sampling parameters. */
export type ChatParams = {
  model: string;
  sample: { messages: Record<string, unknown>[]; tools?: Record<string, unknown>[] };
  stream: boolean;
  temperature: number;
  topP: number;
  maxTokens: number | null;
  seed: number | null;
  stop: string[];
  n: number;
  toolChoice: ToolChoice;
  toolNames: string[];
  parallelToolCalls: boolean;
  responseFormat: ResponseFormat;
  /** The content of a last assistant message sent with `prefix: true`: the reply continues it. */
  prefix: string | null;
  /** The image chunks, in prompt order (chat-images.ts checks and loads them). */
  images: ChatImage[];
};

/** Mistral's default sampling temperature for chat when the request gives none. */
const DEFAULT_TEMPERATURE = 0.7;

/** Chunk types the prompt can carry. */
const usableChunks = new Set(['text', 'thinking', 'image_url']);

type Content = z.infer<typeof content>;
type ChunkIn = z.infer<typeof textChunk>;

function chunkText(chunk: ChunkIn): string {
  return typeof chunk.text === 'string' ? chunk.text : '';
}

function contentText(c: Content): string {
  if (c === null || c === undefined) return '';
  if (typeof c === 'string') return c;
  const unusable = c.find((chunk) => !usableChunks.has(chunk.type));
  if (unusable) throw new ChatRequestError(`content chunks of type '${unusable.type}' are not supported by this server; send the text as a 'text' chunk or a string`);
  return c.map(chunkText).join('');
}

/**
 * A message's content for the tokenizer: its text, or (when it has image chunks) text and image
 * chunks in order, each image recorded in `images`. Images are only read in user messages, as
 * mistral-common encodes them; elsewhere they are refused, never dropped.
 */
function contentOf(c: Content, i: number, role: string, images: ChatImage[]): string | Record<string, unknown>[] {
  if (!Array.isArray(c) || !c.some((chunk) => chunk.type === 'image_url')) return contentText(c);
  contentText(c.filter((chunk) => chunk.type !== 'image_url')); // refuses unusable chunk types
  return c.map((chunk, j) => {
    if (chunk.type !== 'image_url') return { type: 'text', text: chunkText(chunk) };
    const where = `messages[${i}].content[${j}]`;
    const param = `messages.${i}.content.${j}`;
    if (role !== 'user') throw new ChatRequestError(`${where}: images are only accepted in user messages (this is a ${role} message)`, param);
    const url = imageUrlOf(chunk.image_url);
    if (url === null) throw new ChatRequestError(`${where}: image_url must be a URL string or an object {"url": "data:image/<type>;base64,<data>"}`, param);
    const out = { type: 'image_url' as const, image_url: url };
    images.push({ where, param, url, chunk: out });
    return out;
  });
}

function normaliseMessage(m: z.infer<typeof message>, i: number, images: ChatImage[]): Record<string, unknown> {
  const role = m.role === 'developer' ? 'system' : m.role;
  const out: Record<string, unknown> = { role, content: contentOf(m.content, i, role, images) };
  if (m.role === 'assistant' && m.tool_calls?.length) {
    out.tool_calls = m.tool_calls.map((tc) => ({
      id: tc.id ?? undefined,
      type: 'function',
      function: {
        name: tc.function.name,
        arguments: typeof tc.function.arguments === 'string' ? tc.function.arguments : JSON.stringify(tc.function.arguments),
      },
    }));
    if (!out.content) delete out.content;
  }
  if (m.role === 'assistant' && m.prefix) out.prefix = true;
  if (m.role === 'tool') {
    if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
    if (m.name) out.name = m.name;
  }
  return out;
}

function normaliseToolChoice(tc: ChatRequest['tool_choice']): ToolChoice {
  if (!tc || tc === 'auto') return { kind: 'auto' };
  if (tc === 'none') return { kind: 'none' };
  if (tc === 'any' || tc === 'required') return { kind: 'required' };
  return { kind: 'function', name: tc.function.name };
}

function normaliseFormat(rf: ChatRequest['response_format']): ResponseFormat {
  if (!rf || !rf.type || rf.type === 'text') return { kind: 'text' };
  if (rf.type === 'json_object') return { kind: 'json', schema: null };
  return { kind: 'json', schema: rf.json_schema?.schema ?? null };
}

/** The last message's text when it is an assistant prefix (the tokenizer checks the rest). */
function prefixOf(messages: ChatRequest['messages']): string | null {
  const last = messages[messages.length - 1];
  return last?.role === 'assistant' && last.prefix ? contentText(last.content) : null;
}

/** Turns a parsed request (either dialect) into ChatParams; throws ChatRequestError for unusable content. */
export function normaliseChatRequest(req: ChatRequest): ChatParams {
  const tools = (req.tools ?? [])
    .filter((t) => t.type === 'function' && t.function)
    .map((t) => ({
      type: 'function',
      function: {
        name: t.function!.name,
        description: t.function!.description ?? '',
        parameters: t.function!.parameters ?? { type: 'object', properties: {} },
      },
    }));
  const choice = normaliseToolChoice(req.tool_choice);
  const images: ChatImage[] = [];
  const sample: ChatParams['sample'] = { messages: req.messages.map((m, i) => normaliseMessage(m, i, images)) };
  if (tools.length && choice.kind !== 'none') sample.tools = tools;
  return {
    model: req.model,
    sample,
    stream: req.stream === true,
    temperature: req.temperature ?? DEFAULT_TEMPERATURE,
    topP: req.top_p ?? 1,
    maxTokens: req.max_completion_tokens ?? req.max_tokens ?? null,
    seed: req.random_seed ?? req.seed ?? null,
    stop: req.stop === null || req.stop === undefined ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop,
    n: req.n ?? 1,
    toolChoice: tools.length ? choice : { kind: 'none' },
    toolNames: tools.map((t) => t.function.name),
    parallelToolCalls: req.parallel_tool_calls !== false,
    responseFormat: normaliseFormat(req.response_format),
    prefix: prefixOf(req.messages),
    images,
  };
}
