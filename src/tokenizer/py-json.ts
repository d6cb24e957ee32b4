/**
 * Python-compatible JSON: parses like `json.loads` and writes like
 * `json.dumps(value, ensure_ascii=False)`.
 *
 * mistral-common re-serialises tool arguments, tool results and tool schemas with Python's json
 * module. JavaScript's JSON.parse/stringify loses what Python keeps (21.00 -> 21.0, 1e2 -> 100.0,
 * big integers exact, integer-like object keys stay in file order), so token parity needs this.
 */

/** A Python `int` kept as its exact decimal digits. */
export class PyInt {
  constructor(readonly digits: string) {}
}

/** A Python `float` (IEEE double), printed with Python's repr. */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyValue = null | boolean | string | PyInt | PyFloat | PyValue[] | PyObject;
/** A Python dict: a Map keeps insertion order and, like dict, a repeated key keeps its first slot. */
export type PyObject = Map<string, PyValue>;

/** Thrown where Python would raise json.JSONDecodeError. */
export class PyJsonError extends Error {}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;

class Parser {
  pos = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    throw new PyJsonError(`${what} at char ${this.pos}`);
  }

  skipWs(): void {
    const s = this.s;
    let c = s.charCodeAt(this.pos);
    while (c === 32 || c === 9 || c === 10 || c === 13) c = s.charCodeAt(++this.pos);
  }

  value(): PyValue {
    const s = this.s;
    const c = s[this.pos];
    switch (c) {
      case '"':
        return this.string();
      case '{':
        return this.object();
      case '[':
        return this.array();
      case 'n':
        return this.literal('null', null);
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'N':
        return this.literal('NaN', new PyFloat(NaN));
      case 'I':
        return this.literal('Infinity', new PyFloat(Infinity));
      default:
        if (c === '-' && s.startsWith('-Infinity', this.pos)) {
          this.pos += 9;
          return new PyFloat(-Infinity);
        }
        return this.number();
    }
  }

  literal(word: string, v: PyValue): PyValue {
    if (!this.s.startsWith(word, this.pos)) this.fail('Expecting value');
    this.pos += word.length;
    return v;
  }

  number(): PyValue {
    NUMBER_RE.lastIndex = this.pos;
    const m = NUMBER_RE.exec(this.s);
    if (!m) this.fail('Expecting value');
    this.pos += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      // Python's int(): "-0" is 0.
      return new PyInt(m[0] === '-0' ? '0' : m[0]);
    }
    return new PyFloat(Number(m[0]));
  }

  string(): string {
    const s = this.s;
    let i = this.pos + 1;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= s.length) this.fail('Unterminated string starting');
      const c = s.charCodeAt(i);
      if (c === 34) {
        out += s.slice(start, i);
        this.pos = i + 1;
        return out;
      }
      if (c < 0x20) {
        this.pos = i;
        this.fail('Invalid control character');
      }
      if (c === 92) {
        out += s.slice(start, i);
        const e = s[i + 1];
        const simple = ESCAPES[e ?? ''];
        if (simple !== undefined) {
          out += simple;
          i += 2;
        } else if (e === 'u') {
          const hex = s.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            this.pos = i;
            this.fail('Invalid \\uXXXX escape');
          }
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          this.pos = i;
          this.fail('Invalid \\escape');
        }
        start = i;
        continue;
      }
      i++;
    }
  }

  array(): PyValue[] {
    this.pos++;
    const out: PyValue[] = [];
    this.skipWs();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWs();
      out.push(this.value());
      this.skipWs();
      const c = this.s[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail("Expecting ',' delimiter");
    }
  }

  object(): PyObject {
    this.pos++;
    const out: PyObject = new Map();
    this.skipWs();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWs();
      if (this.s[this.pos] !== '"') this.fail('Expecting property name enclosed in double quotes');
      const key = this.string();
      this.skipWs();
      if (this.s[this.pos++] !== ':') this.fail("Expecting ':' delimiter");
      this.skipWs();
      out.set(key, this.value());
      this.skipWs();
      const c = this.s[this.pos++];
      if (c === '}') return out;
      if (c !== ',') this.fail("Expecting ',' delimiter");
    }
  }
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** Parses text like Python's json.loads; throws PyJsonError where Python raises JSONDecodeError. */
export function loadsPy(text: string): PyValue {
  const p = new Parser(text);
  p.skipWs();
  const v = p.value();
  p.skipWs();
  if (p.pos !== text.length) p.fail('Extra data');
  return v;
}

/** Python's repr(float): shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16. */
function reprFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // JS and Python agree on the shortest round-trip digits; only the layout differs.
  const [mant, expStr] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const exp = Number(expStr); // x = d.ddd * 10^exp
  const sign = x < 0 ? '-' : '';
  const decpt = exp + 1;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp);
  return `${sign}${m}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\x00-\x1f"\\]/;
// eslint-disable-next-line no-control-regex
const ESCAPE_ALL = /[\x00-\x1f"\\]/g;
const ESCAPE_MAP: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

function quote(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  const body = s.replace(
    ESCAPE_ALL,
    (c) => ESCAPE_MAP[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `"${body}"`;
}

/** Writes a value like Python's json.dumps(v, ensure_ascii=False) with default separators. */
export function dumpsPy(v: PyValue, opts: { sortKeys?: boolean } = {}): string {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'string') return quote(v);
  if (v instanceof PyInt) return v.digits;
  if (v instanceof PyFloat) return reprFloat(v.value);
  if (Array.isArray(v)) return `[${v.map((x) => dumpsPy(x, opts)).join(', ')}]`;
  const keys = [...v.keys()];
  if (opts.sortKeys) keys.sort();
  return `{${keys.map((k) => `${quote(k)}: ${dumpsPy(v.get(k) as PyValue, opts)}`).join(', ')}}`;
}

/**
 * Converts a plain JavaScript value (e.g. from JSON.parse) to a PyValue. Integral numbers become
 * ints, others floats: the best that can be done once JSON.parse has dropped the source spelling.
 */
export function fromJs(v: unknown): PyValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') {
    const origin = plainOrigin.get(v);
    if (origin !== undefined) return origin;
  }
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (v instanceof PyInt || v instanceof PyFloat || v instanceof Map) return v as PyValue;
  if (typeof v === 'number') {
    return Number.isInteger(v) ? new PyInt(BigInt(v).toString()) : new PyFloat(v);
  }
  if (typeof v === 'bigint') return new PyInt(v.toString());
  if (Array.isArray(v)) return v.map(fromJs);
  if (typeof v === 'object') {
    const out: PyObject = new Map();
    for (const [k, x] of Object.entries(v)) out.set(k, fromJs(x));
    return out;
  }
  throw new TypeError(`cannot convert ${typeof v} to JSON`);
}

/**
 * mistral-common's `_parse_json_content` + dumps: the string's JSON value re-written, or the string
 * itself (as a JSON string value) when it is not JSON.
 */
export function parseJsonContent(s: string): PyValue {
  try {
    return loadsPy(s);
  } catch (e) {
    if (e instanceof PyJsonError) return s;
    throw e;
  }
}

const plainOrigin = new WeakMap<object, PyValue>();

/**
 * Turns a parsed PyValue into plain objects/arrays (for schema checks), remembering each object's
 * source so that fromJs gives back the exact original (key order, number spelling).
 */
export function toPlain(v: PyValue): unknown {
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[k] = toPlain(x);
    plainOrigin.set(out, v);
    return out;
  }
  if (Array.isArray(v)) {
    const out = v.map(toPlain);
    plainOrigin.set(out, v);
    return out;
  }
  return v;
}
