/**
 * One corpus line: a chat sample in Mistral's fine-tuning format (optional system prompt, 1-8
 * user/assistant turns of long-tailed length, a fifth with tools, calls and JSON results), or, for
 * a few per cent of lines, a broken one whose expected error code is known.
 */
import type { Random } from './random.ts';
import { LANGUAGE_SHARES, type Language } from './sources.ts';
import type { Length, TextMaker } from './text.ts';

type Message = Record<string, unknown> & { role: string };
type Sample = { messages: Message[]; tools?: Tool[] };
type Param = { type: string; enum?: string[]; items?: { type: string } };
type Tool = { type: 'function'; function: { name: string; description: string; parameters: { type: 'object'; properties: Record<string, Param>; required: string[] } } };

/** The error code Atelier must report for each kind of broken line (docs/data-errors.md). */
export const BROKEN_KINDS = {
  truncated: 'line_invalid_json',
  ends_with_user: 'last_not_assistant',
  unknown_role: 'role_unknown',
  bad_call_id: 'tool_call_id_invalid',
  no_messages: 'messages_empty',
  no_content: 'content_missing',
} as const;
export type BrokenKind = keyof typeof BROKEN_KINDS;

export type CorpusLine = { text: string; expected: string | null };

const TOOL_NAMES = [
  'search_docs', 'get_weather', 'lookup_package', 'run_sql_query', 'convert_currency', 'create_ticket',
  'translate_text', 'read_file', 'list_directory', 'get_stock_price', 'send_email', 'schedule_meeting',
  'find_flights', 'book_hotel', 'get_exchange_rate', 'summarize_url', 'count_tokens', 'get_package_version',
];
const PARAMS: [string, Param][] = [
  ['query', { type: 'string' }], ['city', { type: 'string' }], ['unit', { type: 'string', enum: ['celsius', 'fahrenheit'] }],
  ['limit', { type: 'integer' }], ['amount', { type: 'number' }], ['tags', { type: 'array', items: { type: 'string' } }],
  ['include_archived', { type: 'boolean' }], ['path', { type: 'string' }], ['language', { type: 'string', enum: ['en', 'fr', 'ja', 'zh'] }],
  ['date', { type: 'string' }], ['currency', { type: 'string', enum: ['EUR', 'USD', 'JPY', 'CNY'] }],
];
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export class SampleMaker {
  private readonly tools: Tool[];

  constructor(
    private readonly text: TextMaker,
    private readonly r: Random,
    private readonly brokenShare: number,
  ) {
    this.tools = TOOL_NAMES.map((name) => this.makeTool(name));
  }

  private makeTool(name: string): Tool {
    const properties: Record<string, Param> = {};
    for (let n = this.r.int(1, 4); Object.keys(properties).length < n;) {
      const [key, schema] = this.r.pick(PARAMS);
      properties[key] = schema;
    }
    const keys = Object.keys(properties);
    return {
      type: 'function',
      function: { name, description: this.text.sentence('en').slice(0, 160), parameters: { type: 'object', properties, required: keys.slice(0, 1) } },
    };
  }

  /** The next line: a valid sample, or (brokenShare of the time) a broken one. */
  line(): CorpusLine {
    const sample = this.sample();
    if (!this.r.chance(this.brokenShare)) return { text: this.serialize(sample), expected: null };
    const kind = this.r.pick(Object.keys(BROKEN_KINDS) as BrokenKind[]);
    return this.broken(sample, kind);
  }

  /** Python writers escape non-ASCII by default (json.dumps ensure_ascii): a third of lines do. */
  private serialize(sample: Sample): string {
    const s = JSON.stringify(sample);
    return this.r.chance(0.3) ? s.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : s;
  }

  private sample(): Sample {
    const lang = this.r.weighted(LANGUAGE_SHARES);
    const messages: Message[] = [];
    if (this.r.chance(0.4)) messages.push({ role: 'system', content: this.text.turn(lang, this.r.chance(0.8) ? 'short' : 'medium') });
    const withTools = this.r.chance(0.2);
    const turns = this.r.geometric(1, 0.45, 8);
    const tools = withTools ? this.pickTools() : [];
    for (let t = 0; t < turns; t++) {
      messages.push({ role: 'user', content: this.text.turn(lang, this.r.weighted<Length>({ short: 0.5, medium: 0.35, long: 0.15, huge: 0 })) });
      if (withTools && (t === 0 || this.r.chance(0.3))) messages.push(...this.toolRound(lang, tools));
      const assistant: Message = { role: 'assistant', content: this.text.turn(lang, this.r.weighted<Length>({ short: 0.2, medium: 0.5, long: 0.27, huge: 0.03 })) };
      if (t < turns - 1 && this.r.chance(0.05)) assistant.weight = 0;
      messages.push(assistant);
    }
    return withTools ? { messages, tools } : { messages };
  }

  private pickTools(): Tool[] {
    const out = new Set<Tool>();
    for (let n = this.r.int(1, 4); out.size < n;) out.add(this.r.pick(this.tools));
    return [...out];
  }

  /** An assistant message with 1-2 calls and one tool message answering each. */
  private toolRound(lang: Language, tools: Tool[]): Message[] {
    const calls = Array.from({ length: this.r.chance(0.8) ? 1 : 2 }, () => {
      const tool = this.r.pick(tools).function;
      const args: Record<string, unknown> = {};
      for (const [key, schema] of Object.entries(tool.parameters.properties)) {
        if (key === tool.parameters.required[0] || this.r.chance(0.5)) args[key] = this.argument(lang, schema);
      }
      return { id: this.callId(), type: 'function', function: { name: tool.name, arguments: JSON.stringify(args) } };
    });
    const results = calls.map((c) => ({ role: 'tool', tool_call_id: c.id, name: c.function.name, content: this.toolResult(lang) }));
    return [{ role: 'assistant', tool_calls: calls }, ...results];
  }

  private argument(lang: Language, schema: Param): unknown {
    if (schema.enum) return this.r.pick(schema.enum);
    if (schema.type === 'integer') return this.r.int(1, 500);
    if (schema.type === 'number') return Math.round(this.r.next() * 1e6) / 100;
    if (schema.type === 'boolean') return this.r.chance(0.5);
    if (schema.type === 'array') return Array.from({ length: this.r.int(1, 4) }, () => this.text.sentence(lang).slice(0, 24));
    return this.text.sentence(lang).slice(0, 80);
  }

  private toolResult(lang: Language): string {
    if (this.r.chance(0.25)) return this.text.turn(lang, 'medium');
    const items = Array.from({ length: this.r.int(1, 5) }, (_, i) => ({
      id: this.r.int(1, 1e6), rank: i + 1, score: Math.round(this.r.next() * 1e4) / 1e4,
      title: this.text.sentence(lang).slice(0, 60), snippet: this.text.paragraph(lang).slice(0, 300),
    }));
    return JSON.stringify({ total: this.r.int(items.length, 5000), took_ms: this.r.int(1, 900), results: items });
  }

  private callId(): string {
    let s = '';
    for (let i = 0; i < 9; i++) s += ALNUM[this.r.int(0, ALNUM.length - 1)];
    return s;
  }

  private broken(sample: Sample, kind: BrokenKind): CorpusLine {
    const m = sample.messages;
    const firstUser = m.findIndex((x) => x.role === 'user');
    const call = m.find((x) => Array.isArray(x.tool_calls));
    if (kind === 'truncated' || (kind === 'bad_call_id' && !call)) {
      const s = this.serialize(sample);
      return { text: s.slice(0, this.r.int(1, s.length - 2)), expected: BROKEN_KINDS.truncated };
    }
    if (kind === 'ends_with_user') sample.messages = m.slice(0, firstUser + 1);
    if (kind === 'unknown_role') (m[firstUser] as Message).role = 'human';
    if (kind === 'no_messages') sample.messages = [];
    if (kind === 'no_content') delete (m[firstUser] as Message).content;
    if (kind === 'bad_call_id') {
      const c = (call?.tool_calls as { id: string }[])[0] as { id: string };
      const answer = m.find((x) => x.tool_call_id === c.id) as Message;
      c.id = `call_${this.r.int(0, 99)}`;
      answer.tool_call_id = c.id;
    }
    return { text: this.serialize(sample), expected: BROKEN_KINDS[kind] };
  }
}
