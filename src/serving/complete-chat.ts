/**
 * One chat completion: render the prompt with the tokenizer that prepared the training data
 * (encodeChat mode 'serve'), send the ids to the engine, decode what comes back streaming-safe,
 * apply stop strings, constrain decoding (response_format, forced tool calls) with per-step token
 * masks, and parse `[TOOL_CALLS]` output into tool calls.
 */
import { ModelOutputError, type Tokenizer } from '../tokenizer/index.ts';
import { withoutPaths } from '../models/index.ts';
import type { ChatParams } from './chat-request.ts';
import type { Engine, EngineRequest, GenerateParams } from './engine.ts';
import type { RequestEvent } from './engine-protocol.ts';
import { feedText, startJson, type JsonSchema, type JsonState } from './json-grammar.ts';
import { schemaLanguageProblem } from './schema-language.ts';
import { buildVocabTrie, createMasker, type TokenMask, type VocabTrie } from './token-mask.ts';
import { toolCallListSchema, toToolCalls, type ToolCall } from './tool-calls.ts';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'error';

export type ChoiceResult = { index: number; content: string; toolCalls: ToolCall[]; finishReason: FinishReason };
export type ChatResult = {
  choices: ChoiceResult[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
};

/** What streaming sees: text as it is decoded, then one final delta per choice. */
export type ChoiceDelta =
  | { index: number; content: string }
  | { index: number; toolCalls: ToolCall[]; content: string; finishReason: FinishReason };

/** Where a chat runs; `vision`: the base model has a vision encoder (it can read image chunks). */
export type ChatTarget = { engine: Engine; tokenizer: Tokenizer; adapterDir: string | null; maxSeqLen: number; vision: boolean };

/** A request the model cannot serve (prompt too long, bad conversation): the caller answers 400. */
export class ChatInputError extends Error {}
/** The engine failed or died during the request: the caller answers 500 / an error chunk. Clients see no server paths. */
export class EngineFailure extends Error {
  /** The unredacted message, for the server log. */
  readonly detail: string;
  constructor(message: string) {
    super(withoutPaths(message));
    this.detail = message;
  }
}

const tries = new WeakMap<Tokenizer, { trie: VocabTrie; texts: (string | null)[] }>();
const utf8 = new TextDecoder('utf-8');

/** Each token's text as the grammar sees it (byte-fallback pieces become U+FFFD, string-only). */
function vocabOf(tok: Tokenizer): { trie: VocabTrie; texts: (string | null)[] } {
  let v = tries.get(tok);
  if (!v) {
    const texts: (string | null)[] = [];
    for (let id = 0; id < tok.vocabSize; id++) texts.push(tok.backend.isSpecial(id) ? null : utf8.decode(tok.backend.tokenBytes(id)));
    v = { trie: buildVocabTrie(texts), texts };
    tries.set(tok, v);
  }
  return v;
}

type Constraint = { state: JsonState; maskFor: (s: JsonState) => TokenMask };

type Choice = {
  index: number;
  ids: number[];
  decoder: ReturnType<Tokenizer['streamDecoder']>;
  text: string;
  streamed: number;
  toolMode: boolean;
  /** Where stop strings are looked for: after the prefix the request gave (`text` starts with it). */
  stopFrom: number;
  /** Length of `text` when [TOOL_CALLS] came: what follows is a call, never content. */
  toolStart: number;
  forceToolFirst: boolean;
  grammar: Constraint | null;
  pendingGrammar: JsonSchema | null | undefined; // a grammar that starts after [TOOL_CALLS]
  done: boolean;
  finish: FinishReason;
  completionTokens: number;
  final: { content: string; calls: ToolCall[] } | null;
};

function grammarFor(tok: Tokenizer, schema: JsonSchema | null): Constraint {
  const { trie } = vocabOf(tok);
  return { state: startJson(schema), maskFor: createMasker(trie, [tok.special.eos]) };
}

/** A schema that would leave decoding no token at some step is the request's fault: 400, naming where. */
function refuseDeadEnds(schema: unknown, path: string): void {
  const problem = schemaLanguageProblem(schema, path);
  if (problem) throw new ChatInputError(`Invalid ${path.split('.')[0]}: ${problem}`);
}

function plan(params: ChatParams, tok: Tokenizer): { forceTool: boolean; afterTool: JsonSchema | null | undefined; json: JsonSchema | null | undefined; banned: number[] } {
  const toolId = tok.special.toolCalls;
  const tc = params.toolChoice;
  const tools = (params.sample.tools ?? []).map((t) => (t as { function: { name: string; parameters: Record<string, unknown> } }).function);
  const forceTool = toolId !== undefined && (tc.kind === 'required' || tc.kind === 'function');
  const listLayout = Number(tok.version.slice(1)) < 11;
  const chosen = tc.kind === 'function' ? tools.filter((t) => t.name === tc.name) : tools;
  const afterTool = forceTool && listLayout ? toolCallListSchema(chosen, params.parallelToolCalls) : undefined;
  const json = params.responseFormat.kind === 'json' && !forceTool ? params.responseFormat.schema : undefined;
  if (json) refuseDeadEnds(json, 'response_format.json_schema.schema');
  if (afterTool) chosen.forEach((t) => refuseDeadEnds(t.parameters, `tools[${tools.indexOf(t)}].function.parameters`));
  const banned = tc.kind === 'none' && toolId !== undefined ? [toolId] : [];
  return { forceTool, afterTool, json, banned };
}

/**
 * The engine's image fields: the images' bytes (base64, from loadChatImages) in the order of their
 * `[IMG]` blocks, and the tokenizer's image settings, from which the engine resizes each image to
 * the grid the prompt holds. A block count that differs from the image count is a bug here, not the
 * client's: the engine would put one image's features in another's place.
 */
function imageFields(prompt: number[], tok: Tokenizer, images: string[]): Pick<GenerateParams, 'images' | 'image_settings'> {
  if (!images.length) return {};
  const blocks = prompt.filter((t) => t === tok.special.imgEnd).length;
  const cfg = tok.backend.image;
  if (blocks !== images.length || !cfg) throw new Error(`the prompt has ${blocks} image blocks for ${images.length} images`);
  return { images, image_settings: { patch_size: cfg.patchSize, max_image_size: cfg.maxImageSize, spatial_merge_size: cfg.spatialMergeSize } };
}

/**
 * Runs the completion; `images` are the request's images as loadChatImages returned them (base64,
 * prompt order); `onDelta` (streaming) sees text as it comes. Rejects with ChatInputError or EngineFailure.
 */
export function completeChat(params: ChatParams, target: ChatTarget, onDelta?: (d: ChoiceDelta) => void, signal?: AbortSignal, images: string[] = []): Promise<ChatResult> {
  const tok = target.tokenizer;
  let prompt: number[];
  try {
    prompt = tok.encodeChat(params.sample, { mode: 'serve' }).tokens;
  } catch (e) {
    throw new ChatInputError(e instanceof Error ? e.message : String(e));
  }
  const imageOp = imageFields(prompt, tok, images);
  const room = target.maxSeqLen - prompt.length;
  if (room < 1) throw new ChatInputError(`the prompt has ${prompt.length} tokens; this model takes at most ${target.maxSeqLen - 1}`);
  const maxTokens = Math.min(params.maxTokens ?? room, room);
  if (maxTokens === 0) return Promise.resolve(emptyCompletion(params, prompt.length, onDelta));
  const p = plan(params, tok);
  const choices: Choice[] = Array.from({ length: params.n }, (_, index) => ({
    index, ids: [], decoder: tok.streamDecoder(), text: params.prefix ?? '', streamed: 0, toolMode: false, stopFrom: params.prefix?.length ?? 0, toolStart: 0, forceToolFirst: p.forceTool,
    grammar: p.json !== undefined ? grammarFor(tok, p.json) : null, pendingGrammar: p.afterTool, done: false, finish: 'stop', completionTokens: 0, final: null,
  }));
  const constrained = choices.some((c) => c.forceToolFirst || c.grammar !== null);
  return new Promise<ChatResult>((resolve, reject) => {
    let promptTokens = prompt.length;
    let settled = false;
    const finishAll = () => {
      if (settled || !choices.every((c) => c.done)) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      const completion = choices.reduce((s, c) => s + c.completionTokens, 0);
      resolve({
        choices: choices.map((c) => ({ index: c.index, content: c.final?.content ?? c.text, toolCalls: c.final?.calls ?? [], finishReason: c.finish })),
        usage: { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion },
      });
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      req.cancel();
      reject(err);
    };
    const onEvent = (e: RequestEvent) => {
      if (e.type === 'error') return fail(new EngineFailure(e.message));
      const c = choices[e.index];
      if (!c || c.done) return;
      if (e.type === 'token') {
        c.completionTokens++;
        const err = onToken(c, e.token, tok, params.stop, req, onDelta);
        if (err) return fail(err);
        if (c.done) {
          req.cancel(c.index);
          endChoice(c, tok, onDelta);
          finishAll();
        }
        return;
      }
      promptTokens = e.prompt_tokens;
      c.done = true;
      c.finish = e.finish_reason;
      endChoice(c, tok, onDelta);
      finishAll();
    };
    const req = target.engine.generate({
      adapter: target.adapterDir, prompt, max_tokens: maxTokens, temperature: params.temperature, top_p: params.topP,
      seed: params.seed, stop: [tok.special.eos], n: params.n, banned: p.banned, constrained, ...imageOp,
    }, onEvent);
    const onAbort = () => fail(new EngineFailure('the client went away'));
    if (signal?.aborted) return onAbort(); // gone before the engine saw it: cancelled at once
    signal?.addEventListener('abort', onAbort);
    if (constrained) for (const c of choices) sendFirstMask(c, tok, req);
  });
}

/** max_tokens 0 (allowed by Mistral's spec): nothing is generated, each choice ends with `length`. */
function emptyCompletion(params: ChatParams, promptTokens: number, onDelta?: (d: ChoiceDelta) => void): ChatResult {
  const content = params.prefix ?? '';
  const choices = Array.from({ length: params.n }, (_, index) => ({ index, content, toolCalls: [], finishReason: 'length' as const }));
  for (const c of choices) onDelta?.(c);
  return { choices, usage: { prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens } };
}

function sendFirstMask(c: Choice, tok: Tokenizer, req: EngineRequest): void {
  if (c.forceToolFirst) req.mask(c.index, { allow: [tok.special.toolCalls] });
  else if (c.grammar) req.mask(c.index, c.grammar.maskFor(c.grammar.state));
}

/** Handles one generated token; returns an Error only when the grammar and engine disagree. */
function onToken(c: Choice, token: number, tok: Tokenizer, stops: string[], req: EngineRequest, onDelta?: (d: ChoiceDelta) => void): Error | null {
  c.ids.push(token);
  if (token === tok.special.toolCalls) {
    c.toolMode = true;
    c.toolStart = c.text.length;
    c.forceToolFirst = false;
    if (c.pendingGrammar !== undefined) {
      const g = grammarFor(tok, c.pendingGrammar);
      c.grammar = g;
      c.pendingGrammar = undefined;
      req.mask(c.index, g.maskFor(g.state));
    } else if (!c.grammar) req.free(c.index);
    return null;
  }
  const g = c.grammar;
  if (g) {
    const next = feedText(g.state, vocabOf(tok).texts[token] ?? '');
    if (!next) return new EngineFailure(`constrained decoding: token ${token} does not fit the grammar`);
    g.state = next;
    req.mask(c.index, g.maskFor(next));
  }
  c.text += c.decoder.push(token);
  if (c.toolMode) return null;
  const hit = firstStop(c.text, stops, c.stopFrom);
  if (hit >= 0) {
    c.text = c.text.slice(0, hit);
    c.done = true;
    c.finish = 'stop';
  }
  const safe = c.done ? c.text.length : c.text.length - heldBack(c.text, stops);
  if (onDelta && safe > c.streamed) onDelta({ index: c.index, content: c.text.slice(c.streamed, safe) });
  c.streamed = Math.max(c.streamed, safe);
  return null;
}

function firstStop(text: string, stops: string[], from: number): number {
  let best = -1;
  for (const s of stops) {
    const i = s ? text.indexOf(s, from) : -1;
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Characters at the end of `text` that may be the start of a stop string (not streamed yet). */
function heldBack(text: string, stops: string[]): number {
  let keep = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > keep; k--) {
      if (text.endsWith(s.slice(0, k))) {
        keep = k;
        break;
      }
    }
  }
  return keep;
}

/**
 * The choice's final text and calls. A call that does not parse (cut off by max_tokens, finish
 * `length`) is dropped: its JSON is not the model's answer, so it is not passed off as content.
 */
function finalOf(c: Choice, tok: Tokenizer): { content: string; calls: ToolCall[] } {
  if (!c.toolMode) return { content: c.text, calls: [] };
  try {
    const out = tok.parseAssistantOutput(c.ids);
    if (out.toolCalls.length) return { content: out.content, calls: toToolCalls(out.toolCalls) };
  } catch (e) {
    if (!(e instanceof ModelOutputError)) throw e;
  }
  return { content: c.text.slice(0, c.toolStart), calls: [] };
}

function endChoice(c: Choice, tok: Tokenizer, onDelta?: (d: ChoiceDelta) => void): void {
  c.text += c.decoder.flush();
  c.final = finalOf(c, tok);
  if (c.final.calls.length && c.finish === 'stop') c.finish = 'tool_calls';
  const rest = c.final.content.length > c.streamed ? c.final.content.slice(c.streamed) : '';
  c.streamed = c.final.content.length;
  onDelta?.({ index: c.index, content: rest, toolCalls: c.final.calls, finishReason: c.finish });
}
