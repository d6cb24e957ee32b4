/**
 * Loading a Mistral tokenizer file (`tokenizer.model.v*` or `tekken.json`) into one object that
 * encodes text and conversations, decodes, and reads model output. Parsed files are cached by
 * path + mtime + size (the 15 MB tekken file takes ~0.5 s to load).
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { TextBackend } from './backend.ts';
import { parseConversation } from './conversation.ts';
import { createStreamDecoder, decodeIds, type StreamDecoder } from './decode.ts';
import { InstructEncoder, TOKENIZER_VERSIONS, type Encoded, type MaskPolicy, type TokenizerVersion } from './instruct.ts';
import { prepareServe, prepareTrain } from './normalize.ts';
import { parseOutputIds, type AssistantOutput } from './parse-output.ts';
import { loadsPy, toPlain } from './py-json.ts';
import { SpmBackend } from './spm-backend.ts';
import { TekkenBackend, tekkenFileSchema } from './tekken-backend.ts';

export type EncodeChatOptions = { mode: 'train' | 'serve'; policy?: MaskPolicy };

const SPECIAL_NAMES: Record<string, string> = {
  unk: '<unk>', bos: '<s>', eos: '</s>', inst: '[INST]', endInst: '[/INST]', toolCalls: '[TOOL_CALLS]',
  availableTools: '[AVAILABLE_TOOLS]', endAvailableTools: '[/AVAILABLE_TOOLS]', toolResults: '[TOOL_RESULTS]',
  endToolResults: '[/TOOL_RESULTS]', toolContent: '[TOOL_CONTENT]', systemPrompt: '[SYSTEM_PROMPT]',
  endSystemPrompt: '[/SYSTEM_PROMPT]', img: '[IMG]', imgBreak: '[IMG_BREAK]', imgEnd: '[IMG_END]',
  args: '[ARGS]', callId: '[CALL_ID]', think: '[THINK]', endThink: '[/THINK]',
};

export class Tokenizer {
  readonly version: TokenizerVersion;
  readonly vocabSize: number;
  /** Special-token ids read from the file (only those it defines), e.g. special.bos. */
  readonly special: Readonly<Record<string, number>>;
  private readonly encoder: InstructEncoder;

  constructor(
    readonly backend: TextBackend,
    version: TokenizerVersion,
  ) {
    this.version = version;
    this.vocabSize = backend.vocabSize;
    const special: Record<string, number> = {};
    for (const [key, name] of Object.entries(SPECIAL_NAMES)) {
      const id = backend.specialId(name);
      if (id !== undefined) special[key] = id;
    }
    special.bos = backend.bosId;
    special.eos = backend.eosId;
    this.special = Object.freeze(special);
    this.encoder = new InstructEncoder(backend, version);
  }

  /** Encodes ordinary text: special-token look-alikes such as "[INST]" stay text. */
  encodeText(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const out: number[] = opts.bos ? [this.backend.bosId] : [];
    this.backend.encodeInto(text, out);
    if (opts.eos) out.push(this.backend.eosId);
    return out;
  }

  /**
   * Encodes a dataset line object (chat shape). train: the whole conversation with its loss mask;
   * serve: the prompt for the next assistant turn (mask all 0). Throws an Error saying what is wrong.
   */
  encodeChat(sample: unknown, opts: EncodeChatOptions): Encoded {
    const conv = parseConversation(sample);
    const v = this.encoder.v;
    if (opts.mode === 'serve') {
      const last = conv.messages[conv.messages.length - 1];
      if (last?.role === 'assistant' && !last.prefix) {
        throw new Error('serve mode needs a conversation that ends with a user or tool message (or an assistant prefix)');
      }
      const enc = this.encoder.encode(prepareServe(conv, v), conv.tools, () => false);
      return enc;
    }
    const policy = opts.policy ?? {};
    const prepared = prepareTrain(conv, v);
    const msgs = prepared.messages;
    let lastAssistant = -1;
    msgs.forEach((m, i) => {
      if (m.role === 'assistant') lastAssistant = i;
    });
    const final = msgs[lastAssistant];
    if (policy.stripFinalCallIds && final?.role === 'assistant' && v < 13) {
      msgs[lastAssistant] = { ...final, toolCalls: final.toolCalls.map((c) => ({ ...c, id: null })) };
    }
    const lastOnly = policy.lastTurnOnly === true || (policy.lastTurnOnly === 'with-tools' && conv.tools.length > 0);
    return this.encoder.encode(prepared, conv.tools, (i) => {
      const m = msgs[i];
      if (m?.role !== 'assistant' || (m.weight !== null && m.weight !== 1)) return false;
      return !lastOnly || i === lastAssistant;
    });
  }

  /** Encodes one raw JSONL line, read with Python's JSON semantics (number spelling, key order). */
  encodeLine(line: string, opts: EncodeChatOptions): Encoded {
    return this.encodeChat(toPlain(loadsPy(line)), opts);
  }

  /** Decodes ids to text, dropping special tokens. */
  decode(ids: readonly number[]): string {
    return decodeIds(this.backend, ids);
  }

  /** A decoder for streamed ids that never emits half a character. */
  streamDecoder(): StreamDecoder {
    return createStreamDecoder(this.backend);
  }

  /** Reads generated ids back into `{content, toolCalls}` (text before `[TOOL_CALLS]`, then calls). */
  parseAssistantOutput(ids: readonly number[]): AssistantOutput {
    return parseOutputIds(this.backend, this.encoder.v, ids);
  }
}

const cache = new Map<string, Promise<Tokenizer>>();

function isVersion(v: string): v is TokenizerVersion {
  return (TOKENIZER_VERSIONS as readonly string[]).includes(v);
}

function checkVersion(v: string, path: string): TokenizerVersion {
  if (!isVersion(v)) throw new Error(`${path}: tokenizer version ${v} is not supported (${TOKENIZER_VERSIONS.join(', ')})`);
  return v;
}

async function buildTokenizer(path: string, forced: TokenizerVersion | undefined): Promise<Tokenizer> {
  const name = basename(path);
  if (name.endsWith('.json')) {
    const file = tekkenFileSchema.parse(JSON.parse(await readFile(path, 'utf8')));
    const version = forced ?? checkVersion(file.config.version, path);
    return new Tokenizer(new TekkenBackend(file, version), version);
  }
  const m = /\.model(?:\.(v\d+)(m\d+)?)?$/.exec(name);
  if (!m) throw new Error(`${path}: expected a tokenizer.model.v* or tekken.json file`);
  const version = forced ?? checkVersion(m[1] ?? 'v1', path);
  if (m[2] !== undefined && m[2] !== 'm1') throw new Error(`${path}: unknown multimodal version ${m[2]}`);
  const image = m[2] === 'm1' ? { patchSize: 16, maxImageSize: 1024, spatialMergeSize: 1 } : null;
  return new Tokenizer(new SpmBackend(await readFile(path), image), version);
}

/** Loads (or reuses) the tokenizer in `path`; the version comes from the file unless forced. */
export async function loadTokenizer(path: string, opts: { version?: TokenizerVersion } = {}): Promise<Tokenizer> {
  const full = resolve(path);
  const st = await stat(full);
  const key = `${full}\0${st.mtimeMs}\0${st.size}\0${opts.version ?? ''}`;
  let t = cache.get(key);
  if (!t) {
    t = buildTokenizer(full, opts.version);
    cache.set(key, t);
    t.catch(() => cache.delete(key));
  }
  return t;
}
