/**
 * Instruct encoders for tokenizer versions v1, v2, v3, v7, v11 and v13: the token layout of
 * mistral-common 1.12's InstructTokenizerV1..V13 (`encode_user_message`, `encode_tool_message`,
 * `encode_assistant_message`, `encode_system_message`), with a loss-mask bit per token.
 */
import type { TextBackend } from './backend.ts';
import { contentText, type Content, type Msg, type ToolCallIn } from './conversation.ts';
import { imageTokens } from './images.ts';
import { dumpsPy, parseJsonContent, type PyValue } from './py-json.ts';
import type { Prepared } from './normalize.ts';

export const TOKENIZER_VERSIONS = ['v1', 'v2', 'v3', 'v7', 'v11', 'v13'] as const;
export type TokenizerVersion = (typeof TOKENIZER_VERSIONS)[number];

/** Which assistant messages are trained, on top of weight (absent or 1 = trained). */
export type MaskPolicy = {
  /** Train only the last assistant message: always, or (mistral-finetune) when the sample has tools. */
  lastTurnOnly?: boolean | 'with-tools';
  /** Drop the final assistant message's tool-call ids before encoding (mistral-finetune). */
  stripFinalCallIds?: boolean;
};

/** mistral-finetune's behaviour: tool samples train their last turn only, without its call ids. */
export const MISTRAL_FINETUNE_POLICY: MaskPolicy = { lastTurnOnly: 'with-tools', stripFinalCallIds: true };

/** `images`: the raw bytes of each image, in the order of their [IMG] blocks in `tokens`. */
export type Encoded = { tokens: number[]; mask: number[]; images: Buffer[] };

const REPEAT_MIN_CHARS = 64;
const REPEAT_CACHE_LIMIT = 4096;

export class InstructEncoder {
  readonly v: number;
  private readonly ids = new Map<string, number>();
  /** The images of the encode() in progress, in [IMG] block order (encode is synchronous). */
  private images: Buffer[] = [];

  constructor(
    readonly backend: TextBackend,
    readonly version: TokenizerVersion,
  ) {
    this.v = Number(version.slice(1));
  }

  /** The id of a special token, or an error naming the missing token. */
  sp(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.backend.specialId(name);
      if (id === undefined) throw new Error(`tokenizer ${this.version} has no ${name} token`);
      this.ids.set(name, id);
    }
    return id;
  }

  // Datasets repeat long strings (tool schemas, system prompts) on every line: encode them once.
  // Only those: hashing and keeping every long message would cost more than it saves.
  private readonly repeated = new Map<string, number[]>();

  private text(s: string, out: number[]): void {
    this.backend.encodeInto(s, out);
  }

  private repeatedText(s: string, out: number[]): void {
    if (s.length < REPEAT_MIN_CHARS) {
      this.backend.encodeInto(s, out);
      return;
    }
    let ids = this.repeated.get(s);
    if (ids === undefined) {
      ids = [];
      this.backend.encodeInto(s, ids);
      if (this.repeated.size >= REPEAT_CACHE_LIMIT) this.repeated.clear();
      this.repeated.set(s, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i] as number);
  }

  /** Encodes prepared messages; `trained(i)` says whether assistant message i is in the loss. */
  encode(p: Prepared, tools: PyValue[], trained: (i: number) => boolean): Encoded {
    const tokens = [this.backend.bosId];
    const mask = [0];
    this.images = [];
    let firstUser = -1;
    let lastUser = -1;
    p.messages.forEach((m, i) => {
      if (m.role !== 'user') return;
      if (firstUser < 0) firstUser = i;
      lastUser = i;
    });
    p.messages.forEach((m, i) => {
      const before = tokens.length;
      switch (m.role) {
        case 'user':
          this.user(m.content, tools, i === lastUser, i === firstUser, p.systemPrompt, tokens);
          break;
        case 'tool':
          this.tool(m, i < lastUser, tokens);
          break;
        case 'assistant':
          this.assistant(m, i < lastUser, tokens);
          break;
        case 'system':
          this.system(m.content, tokens);
          break;
      }
      const bit = m.role === 'assistant' && trained(i) ? 1 : 0;
      for (let k = before; k < tokens.length; k++) mask.push(bit);
    });
    return { tokens, mask, images: this.images };
  }

  private user(c: Content, tools: PyValue[], isLast: boolean, isFirst: boolean, sys: string | null, out: number[]): void {
    if (this.v === 1) {
      if (typeof c !== 'string') throw new Error('tokenizer v1 only encodes text user messages');
      const content = isFirst && sys ? `${sys}\n\n${c}` : c;
      // v1 has no control tokens: [INST] is ordinary text.
      this.text(`[INST] ${content} [/INST]`, out);
      return;
    }
    const atTools = this.v >= 13 ? isFirst : isLast;
    if (atTools && tools.length) {
      out.push(this.sp('[AVAILABLE_TOOLS]'));
      this.repeatedText(dumpsPy(tools), out);
      out.push(this.sp('[/AVAILABLE_TOOLS]'));
    }
    out.push(this.sp('[INST]'));
    const prompt = isLast && sys ? sys : null;
    if (typeof c === 'string') {
      this.text(prompt ? `${prompt}\n\n${c}` : c, out);
    } else {
      if (this.v === 2) throw new Error('tokenizer v2 only encodes text user messages');
      this.chunks(imageFirst(c), prompt, out);
    }
    out.push(this.sp('[/INST]'));
  }

  private chunks(c: Exclude<Content, string>, prompt: string | null, out: number[]): void {
    if (prompt && c.length) this.text(`${prompt}\n\n`, out);
    for (const k of c) {
      if (k.type === 'text') this.text(k.text, out);
      else {
        const cfg = this.backend.image;
        if (!cfg) throw new Error('this tokenizer has no image settings: it cannot encode images');
        out.push(...imageTokens(k.size, cfg, { img: this.sp('[IMG]'), imgBreak: this.sp('[IMG_BREAK]'), imgEnd: this.sp('[IMG_END]') }));
        this.images.push(k.data);
      }
    }
  }

  private system(c: Content, out: number[]): void {
    out.push(this.sp('[SYSTEM_PROMPT]'));
    if (typeof c === 'string') this.repeatedText(c, out);
    else this.chunks(c, null, out);
    out.push(this.sp('[/SYSTEM_PROMPT]'));
  }

  private tool(m: Extract<Msg, { role: 'tool' }>, beforeLastUser: boolean, out: number[]): void {
    if (this.v === 1) throw new Error('tokenizer v1 cannot encode tool messages');
    if (this.v === 2 && beforeLastUser) return; // v2 drops tool results before the last user turn
    const content = contentText(m.content);
    if (this.v >= 3 && m.toolCallId === null) throw new Error(`tokenizer ${this.version} needs tool_call_id on tool messages`);
    out.push(this.sp('[TOOL_RESULTS]'));
    if (this.v === 2) {
      this.text(dumpsPy([new Map<string, PyValue>([['name', m.name], ['content', parseJsonContent(content)]])]), out);
    } else if (this.v === 3) {
      this.text(dumpsPy(new Map<string, PyValue>([['content', parseJsonContent(content)], ['call_id', m.toolCallId]])), out);
    } else {
      if (this.v < 13) {
        this.text(m.toolCallId ?? '', out);
        out.push(this.sp('[TOOL_CONTENT]'));
      }
      this.text(content, out);
    }
    out.push(this.sp('[/TOOL_RESULTS]'));
  }

  private assistant(m: Extract<Msg, { role: 'assistant' }>, beforeLastUser: boolean, out: number[]): void {
    const hasContent = m.content !== null && m.content.length > 0;
    const hasCalls = m.toolCalls.length > 0;
    if (!hasContent && !hasCalls) throw new Error('an assistant message needs content or tool_calls');
    if (this.v === 1) {
      if (hasCalls) throw new Error('tokenizer v1 cannot encode tool calls');
      this.text(contentText(m.content ?? ''), out);
    } else {
      if (this.v < 7 && hasContent && hasCalls) {
        throw new Error('an assistant message cannot have both content and tool_calls before tokenizer v7');
      }
      if (this.v === 2 && hasCalls && beforeLastUser) return; // v2 drops calls before the last user turn
      // The reference strips trailing spaces (not tabs or newlines) from assistant text.
      if (hasContent) this.text(trimTrailingSpaces(contentText(m.content ?? '')), out);
      if (hasCalls) this.toolCalls(m.toolCalls, out);
    }
    // A prefix message is an unfinished reply the model continues: no </s>.
    if (!m.prefix) out.push(this.backend.eosId);
  }

  private prepareCall(c: ToolCallIn): Map<string, PyValue> {
    const call = new Map<string, PyValue>([['name', c.name], ['arguments', parseJsonContent(c.arguments)]]);
    if (this.v >= 3 && c.id && c.id !== 'null') call.set('id', c.id);
    return call;
  }

  private toolCalls(calls: ToolCallIn[], out: number[]): void {
    if (this.v < 11) {
      out.push(this.sp('[TOOL_CALLS]'));
      this.text(dumpsPy(calls.map((c) => this.prepareCall(c))), out);
      return;
    }
    for (const c of calls) {
      if (this.v >= 13 && (!c.id || c.id === 'null')) throw new Error(`tokenizer ${this.version} needs an id on every tool call`);
      const call = this.prepareCall(c);
      out.push(this.sp('[TOOL_CALLS]'));
      this.text(c.name, out);
      const id = call.get('id');
      if (this.v < 13 && typeof id === 'string') {
        out.push(this.sp('[CALL_ID]'));
        this.text(id, out);
      }
      out.push(this.sp('[ARGS]'));
      this.text(dumpsPy(call.get('arguments') ?? null), out);
    }
  }
}

/** `s.replace(/ +$/, '')` without a regex run over every assistant message. */
function trimTrailingSpaces(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 32) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** mistral-common's compatibility hack: [text..., image] puts the image first. */
function imageFirst(c: Exclude<Content, string>): Exclude<Content, string> {
  const last = c[c.length - 1];
  if (c.length >= 2 && last?.type === 'image' && c.slice(0, -1).every((k) => k.type === 'text')) {
    return [last, ...c.slice(0, -1)];
  }
  return c;
}
