/**
 * The dataset line (chat shape, OpenAI-style tool calls) parsed into the messages the instruct
 * encoders walk. Numbers may be plain numbers (a JSON.parse'd line) or PyInt/PyFloat (a line read
 * with the Python-compatible parser, which keeps 21.00 and key order for re-serialisation).
 */
import { z } from 'zod';
import { PyFloat, PyInt, dumpsPy, fromJs, type PyValue } from './py-json.ts';
import { imageFromData, type ImageSize } from './images.ts';

const num = z.union([
  z.number(),
  z.instanceof(PyInt).transform((v) => Number(v.digits)),
  z.instanceof(PyFloat).transform((v) => v.value),
]);

const textChunk = z.object({ type: z.literal('text'), text: z.string() });
const imageUrlChunk = z.object({
  type: z.literal('image_url'),
  image_url: z.union([z.string(), z.object({ url: z.string() })]),
});
const imageChunk = z.object({ type: z.literal('image'), image: z.string() });
const chunk = z.discriminatedUnion('type', [textChunk, imageUrlChunk, imageChunk]);
const content = z.union([z.string(), z.array(chunk)]).nullish();

const toolCall = z.object({
  id: z.string().nullish(),
  type: z.string().nullish(),
  function: z.object({ name: z.string(), arguments: z.unknown() }),
});

const message = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content }),
  z.object({ role: z.literal('user'), content }),
  z.object({
    role: z.literal('assistant'),
    content,
    tool_calls: z.array(toolCall).nullish(),
    weight: num.nullish(),
    prefix: z.boolean().nullish(),
  }),
  z.object({
    role: z.literal('tool'),
    content,
    tool_call_id: z.string().nullish(),
    name: z.string().nullish(),
  }),
]);

const tool = z.object({
  type: z.string().nullish(),
  function: z.object({
    name: z.string(),
    description: z.string().nullish(),
    parameters: z.unknown(),
  }),
});

const sampleSchema = z.object({
  messages: z.array(message).min(1),
  tools: z.array(tool).nullish(),
});
export type Sample = z.input<typeof sampleSchema>;

export type Chunk = { type: 'text'; text: string } | { type: 'image'; size: ImageSize; data: Buffer };
export type Content = string | Chunk[];
export type ToolCallIn = { id: string | null; name: string; arguments: string };
export type Msg =
  | { role: 'system'; content: Content }
  | { role: 'user'; content: Content }
  | { role: 'assistant'; content: Content | null; toolCalls: ToolCallIn[]; weight: number | null; prefix: boolean }
  | { role: 'tool'; content: Content; toolCallId: string | null; name: string | null };

export type Conversation = { messages: Msg[]; tools: PyValue[] };

/** Parses a dataset line object; throws an Error naming the bad field. */
export function parseConversation(sample: unknown): Conversation {
  const res = sampleSchema.safeParse(sample);
  if (!res.success) {
    const issue = res.error.issues[0];
    throw new Error(`invalid sample at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'bad shape'}`);
  }
  const messages = res.data.messages.map(toMsg);
  const tools = (res.data.tools ?? []).map((t) => {
    const fn = new Map<string, PyValue>([
      ['name', t.function.name],
      ['description', t.function.description ?? ''],
      ['parameters', fromJs(t.function.parameters ?? {})],
    ]);
    return new Map<string, PyValue>([['type', 'function'], ['function', fn]]);
  });
  return { messages, tools };
}

type ParsedMsg = z.infer<typeof message>;

function toMsg(m: ParsedMsg): Msg {
  switch (m.role) {
    case 'system':
    case 'user':
      return { role: m.role, content: toContent(m.content) };
    case 'tool':
      return { role: 'tool', content: toContent(m.content), toolCallId: m.tool_call_id ?? null, name: m.name ?? null };
    case 'assistant':
      return {
        role: 'assistant',
        content: m.content === null || m.content === undefined ? null : toContent(m.content),
        toolCalls: (m.tool_calls ?? []).map((c) => ({
          id: c.id ?? null,
          name: c.function.name,
          arguments: argumentsString(c.function.arguments),
        })),
        weight: m.weight ?? null,
        prefix: m.prefix ?? false,
      };
  }
}

/** mistral-common's FunctionCall validator: a dict is json.dumps'ed, None becomes "{}". */
function argumentsString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '{}';
  const py = fromJs(v);
  if (!(py instanceof Map)) throw new Error('tool call arguments must be a JSON string or an object');
  return dumpsPy(py);
}

function toContent(c: z.infer<typeof content>): Content {
  if (c === null || c === undefined) return '';
  if (typeof c === 'string') return c;
  return c.map((k): Chunk => {
    if (k.type === 'text') return { type: 'text', text: k.text };
    const src = k.type === 'image' ? k.image : typeof k.image_url === 'string' ? k.image_url : k.image_url.url;
    return { type: 'image', ...imageFromData(src) };
  });
}

/** The text of a content, chunks joined with `sep` (images are not allowed here). */
export function contentText(c: Content, sep = ''): string {
  if (typeof c === 'string') return c;
  return c
    .map((k) => {
      if (k.type !== 'text') throw new Error('images are only allowed in user messages');
      return k.text;
    })
    .join(sep);
}
