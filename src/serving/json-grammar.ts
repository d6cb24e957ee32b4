/**
 * A character-level recognizer for JSON, optionally restricted by a JSON schema, used for
 * constrained decoding (`response_format` json_object / json_schema). States are immutable, so one
 * state can be extended by many candidate tokens (see token-mask.ts) without copying.
 *
 * `feedChar(state, ch)` returns the next state, or null when no valid document starts with the
 * text so far plus `ch`. `canEnd(state)` says whether the text so far is a complete document.
 *
 * Supported schema keywords: type (string or list), properties, required, additionalProperties,
 * items, minItems (only "at least one") and maxItems (forced tool-call lists), enum, const, anyOf/oneOf (the branch is chosen by the value's first character), local
 * $ref (#/$defs/…, #/definitions/…). Insignificant whitespace is limited to one character between
 * tokens: small models otherwise fill max_tokens with spaces.
 */

export type JsonSchema = { [key: string]: unknown };

type ObjPhase = 'start' | 'key-next' | 'colon' | 'value' | 'after-value';
type ArrPhase = 'start' | 'value' | 'after-value' | 'after-comma';
type NumPhase = 'sign' | 'minus' | 'zero' | 'int' | 'dot' | 'frac' | 'e' | 'e-sign' | 'exp';

type Frame =
  | { k: 'root'; done: boolean }
  | { k: 'value'; s: JsonSchema }
  | { k: 'obj'; s: JsonSchema; phase: ObjPhase; seen: readonly string[]; key: string }
  | { k: 'arr'; s: JsonSchema; phase: ArrPhase; n: number } // n: items started
  | { k: 'str'; esc: number; key: boolean } // esc: 0 none, 1 after '\', 2..5 hex digits left + 1
  | { k: 'num'; int: boolean; phase: NumPhase }
  | { k: 'lit'; rest: string }
  | { k: 'enum'; cands: readonly string[]; buf: string; key: boolean };

type Node = { readonly f: Frame; readonly up: Node | null };

export type JsonState = { readonly node: Node; readonly ws: boolean; readonly root: JsonSchema };

const WS = new Set([' ', '\n', '\t', '\r']);
const DIGITS = '0123456789';
const HEX = /[0-9a-fA-F]/;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u']);

/** The state before the first character; `schema` null means any JSON object (json_object). */
export function startJson(schema: JsonSchema | null): JsonState {
  const root = schema ?? { type: 'object' };
  const bottom: Node = { f: { k: 'root', done: false }, up: null };
  return { node: { f: { k: 'value', s: root }, up: bottom }, ws: false, root };
}

/** Whether the text fed so far is a complete document matching the schema. */
export function canEnd(state: JsonState): boolean {
  const closed = closeScalar(state.node);
  return closed !== null && closed.f.k === 'root' && closed.f.done;
}

/** Feeds one character; null when the text can no longer become a valid document. */
export function feedChar(state: JsonState, ch: string): JsonState | null {
  const node = step(state.node, ch, state.root, state.ws);
  if (!node) return null;
  const f = node.f;
  const inside = f.k === 'str' || f.k === 'enum' || f.k === 'num' || f.k === 'lit';
  return { node, ws: !inside && WS.has(ch), root: state.root };
}

/** Feeds a string; null as soon as one character is rejected. */
export function feedText(state: JsonState, text: string): JsonState | null {
  let s: JsonState | null = state;
  for (const ch of text) {
    s = feedChar(s, ch);
    if (!s) return null;
  }
  return s;
}

/** A stable key for caching masks: equal keys accept exactly the same continuations. */
export function stateKey(state: JsonState): string {
  const parts: string[] = [state.ws ? 'w' : '-'];
  for (let n: Node | null = state.node; n; n = n.up) parts.push(frameKey(n.f));
  return parts.join('|');
}

const schemaIds = new WeakMap<object, number>();
let nextSchemaId = 0;
function schemaId(s: object): number {
  const known = schemaIds.get(s);
  if (known !== undefined) return known;
  schemaIds.set(s, ++nextSchemaId);
  return nextSchemaId;
}

function frameKey(f: Frame): string {
  switch (f.k) {
    case 'root': return `R${f.done}`;
    case 'value': return `V${schemaId(f.s)}`;
    case 'obj': return `O${schemaId(f.s)}${f.phase}${f.seen.join(',')}:${f.key}`;
    case 'arr': return `A${schemaId(f.s)}${f.phase}${f.s.maxItems === undefined ? '' : f.n}`;
    case 'str': return `S${f.esc}${f.key}`;
    case 'num': return `N${f.int}${f.phase}`;
    case 'lit': return `L${f.rest}`;
    case 'enum': return `E${f.cands.join('\u0000')}${f.buf}${f.key}`;
  }
}

function push(up: Node, f: Frame): Node {
  return { f, up };
}

function replace(node: Node, f: Frame): Node {
  return { f, up: node.up };
}

function resolve(s: JsonSchema, root: JsonSchema): JsonSchema {
  let cur = s;
  for (let hops = 0; typeof cur.$ref === 'string' && hops < 32; hops++) {
    const ref = cur.$ref as string;
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    const defs = m ? (root[m[1]] as Record<string, JsonSchema> | undefined) : undefined;
    const target = m && defs ? defs[decodeURIComponent(m[2])] : undefined;
    if (!target) return {};
    cur = target;
  }
  return cur;
}

function types(s: JsonSchema): Set<string> | null {
  const t = s.type;
  if (typeof t === 'string') return new Set(t === 'integer' ? ['integer'] : [t]);
  if (Array.isArray(t)) return new Set(t.filter((x): x is string => typeof x === 'string'));
  return null;
}

function enumTexts(s: JsonSchema): string[] | null {
  if ('const' in s) return [JSON.stringify(s.const)];
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v));
  return null;
}

/** Starts a value of schema `s` with character `ch` (whitespace already handled). */
function startValue(up: Node, s0: JsonSchema, ch: string, root: JsonSchema): Node | null {
  const s = resolve(s0, root);
  const branches = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined;
  if (Array.isArray(branches)) {
    for (const b of branches) {
      const started = startValue(up, b, ch, root);
      if (started) return started;
    }
    return null;
  }
  const cands = enumTexts(s);
  if (cands) return enumStep(push(up, { k: 'enum', cands, buf: '', key: false }), ch, root);
  const t = types(s);
  const allows = (name: string) => t === null || t.has(name);
  if (ch === '{' && allows('object')) return push(up, { k: 'obj', s, phase: 'start', seen: [], key: '' });
  if (ch === '[' && allows('array')) return push(up, { k: 'arr', s, phase: 'start', n: 0 });
  if (ch === '"' && allows('string')) return push(up, { k: 'str', esc: 0, key: false });
  if ((ch === '-' || DIGITS.includes(ch)) && (allows('number') || allows('integer'))) {
    const int = t !== null && !t.has('number');
    return numStep(push(up, { k: 'num', int, phase: 'sign' }), ch, root);
  }
  if (ch === 't' && allows('boolean')) return push(up, { k: 'lit', rest: 'rue' });
  if (ch === 'f' && allows('boolean')) return push(up, { k: 'lit', rest: 'alse' });
  if (ch === 'n' && allows('null')) return push(up, { k: 'lit', rest: 'ull' });
  return null;
}

/** The parent after a child value (or key) is complete. */
function finish(up: Node, key: string | null): Node {
  const f = up.f;
  if (f.k === 'root') return replace(up, { k: 'root', done: true });
  if (f.k === 'obj') {
    if (key !== null) return replace(up, { ...f, phase: 'colon', seen: [...f.seen, key], key });
    return replace(up, { ...f, phase: 'after-value' });
  }
  if (f.k === 'arr') return replace(up, { ...f, phase: 'after-value' });
  return up;
}

/** Closes a number or enum that ends without a delimiter of its own; null when incomplete. */
function closeScalar(node: Node): Node | null {
  const f = node.f;
  if (f.k === 'num') {
    if (!['zero', 'int', 'frac', 'exp'].includes(f.phase)) return null;
    return finish(node.up!, null);
  }
  if (f.k === 'enum') return f.cands.includes(f.buf) ? finish(node.up!, f.key ? keyOf(f.buf) : null) : null;
  return node;
}

function keyOf(jsonText: string): string {
  return JSON.parse(jsonText) as string;
}

function step(node: Node, ch: string, root: JsonSchema, ws: boolean): Node | null {
  const f = node.f;
  switch (f.k) {
    case 'str': return strStep(node, f, ch);
    case 'num': return numStep(node, ch, root, ws);
    case 'enum': return enumStep(node, ch, root, ws);
    case 'lit':
      if (ch !== f.rest[0]) return null;
      return f.rest.length === 1 ? finish(node.up!, null) : replace(node, { k: 'lit', rest: f.rest.slice(1) });
    default:
      if (WS.has(ch)) return ws ? null : node;
      return structStep(node, ch, root);
  }
}

function structStep(node: Node, ch: string, root: JsonSchema): Node | null {
  const f = node.f;
  if (f.k === 'root') return null;
  if (f.k === 'value') return startValue(node.up!, f.s, ch, root);
  if (f.k === 'obj') return objStep(node, f, ch, root);
  if (f.k === 'arr') return arrStep(node, f, ch, root);
  return null;
}

function objectKeys(s: JsonSchema, seen: readonly string[]): string[] | null {
  const props = s.properties as Record<string, unknown> | undefined;
  const extra = s.additionalProperties;
  if (!props || (extra !== undefined && extra !== false)) return null;
  // Schemas with properties are closed: a model inventing keys defeats the schema's purpose.
  return Object.keys(props).filter((k) => !seen.includes(k));
}

function requiredMet(s: JsonSchema, seen: readonly string[]): boolean {
  const req = Array.isArray(s.required) ? (s.required as string[]) : [];
  return req.every((k) => seen.includes(k));
}

function propertySchema(s: JsonSchema, key: string): JsonSchema {
  const props = s.properties as Record<string, JsonSchema> | undefined;
  if (props && key in props) return props[key];
  const extra = s.additionalProperties;
  return typeof extra === 'object' && extra !== null ? (extra as JsonSchema) : {};
}

function objStep(node: Node, f: Extract<Frame, { k: 'obj' }>, ch: string, root: JsonSchema): Node | null {
  const keys = objectKeys(f.s, f.seen);
  const canKey = keys === null || keys.length > 0;
  if ((f.phase === 'start' || f.phase === 'key-next') && ch === '"' && canKey) {
    const inObj = replace(node, { ...f, phase: 'key-next' });
    if (keys === null) return push(inObj, { k: 'str', esc: 0, key: true });
    const cands = keys.map((k) => JSON.stringify(k));
    return push(inObj, { k: 'enum', cands, buf: '"', key: true });
  }
  if ((f.phase === 'start' || f.phase === 'after-value') && ch === '}' && requiredMet(f.s, f.seen)) {
    return finish(node.up!, null);
  }
  if (f.phase === 'after-value' && ch === ',' && canKey) return replace(node, { ...f, phase: 'key-next' });
  if (f.phase === 'colon' && ch === ':') {
    return push(replace(node, { ...f, phase: 'value' }), { k: 'value', s: propertySchema(f.s, f.key) });
  }
  return null;
}

function arrStep(node: Node, f: Extract<Frame, { k: 'arr' }>, ch: string, root: JsonSchema): Node | null {
  const items = (typeof f.s.items === 'object' && f.s.items !== null ? f.s.items : {}) as JsonSchema;
  if (f.phase === 'start' && ch === ']' && !(Number(f.s.minItems) >= 1)) return finish(node.up!, null);
  if (f.phase === 'after-value' && ch === ']') return finish(node.up!, null);
  if (f.phase === 'after-value' && ch === ',' && !(f.n >= Number(f.s.maxItems))) return replace(node, { ...f, phase: 'after-comma' });
  if (f.phase === 'start' || f.phase === 'after-comma') {
    return startValue(replace(node, { ...f, phase: 'value', n: f.n + 1 }), items, ch, root);
  }
  return null;
}

function strStep(node: Node, f: Extract<Frame, { k: 'str' }>, ch: string): Node | null {
  if (f.esc === 1) return ESCAPES.has(ch) ? replace(node, { ...f, esc: ch === 'u' ? 5 : 0 }) : null;
  if (f.esc > 1) return HEX.test(ch) ? replace(node, { ...f, esc: f.esc === 2 ? 0 : f.esc - 1 }) : null;
  if (ch === '"') return finish(node.up!, f.key ? '' : null);
  if (ch === '\\') return replace(node, { ...f, esc: 1 });
  return ch.charCodeAt(0) < 0x20 ? null : node;
}

function numStep(node: Node, ch: string, root: JsonSchema, ws = false): Node | null {
  const f = node.f as Extract<Frame, { k: 'num' }>;
  const digit = DIGITS.includes(ch);
  const to = (phase: NumPhase) => replace(node, { ...f, phase });
  switch (f.phase) {
    case 'sign':
      if (ch === '-') return to('minus');
      if (ch === '0') return to('zero');
      return digit ? to('int') : null;
    case 'minus':
      if (ch === '0') return to('zero');
      return digit ? to('int') : null;
    case 'dot': return digit ? to('frac') : null;
    case 'e': return ch === '-' || ch === '+' ? to('e-sign') : digit ? to('exp') : null;
    case 'e-sign': return digit ? to('exp') : null;
    default: break;
  }
  if (digit && f.phase !== 'zero') return node;
  if (ch === '.' && !f.int && (f.phase === 'zero' || f.phase === 'int')) return to('dot');
  if ((ch === 'e' || ch === 'E') && !f.int && f.phase !== 'exp') return to('e');
  const closed = closeScalar(node);
  return closed ? step(closed, ch, root, ws) : null;
}

function enumStep(node: Node, ch: string, root: JsonSchema, ws = false): Node | null {
  const f = node.f as Extract<Frame, { k: 'enum' }>;
  const buf = f.buf + ch;
  if (f.cands.some((c) => c.startsWith(buf))) {
    const exact = f.cands.includes(buf) && !f.cands.some((c) => c !== buf && c.startsWith(buf));
    // A string (or key) candidate ends with its own quote: close at once so the parent goes on.
    if (exact && buf.endsWith('"')) return finish(node.up!, f.key ? keyOf(buf) : null);
    return replace(node, { ...f, buf });
  }
  const closed = closeScalar(node);
  return closed && closed !== node ? step(closed, ch, root, ws) : null;
}
