/**
 * Whether a JSON schema can constrain decoding without dead-ending: it must be a well-formed schema
 * (Draft 7 shapes, the same check as tool parameters in datasets) and every subschema the grammar
 * (json-grammar.ts) can enter must admit at least one finite value. A dead end leaves the engine a
 * step where every token is masked, so such schemas are refused before a request reaches an engine.
 *
 * The rules follow the grammar's reading of a schema: enum/const before type; anyOf/oneOf branches
 * (any branch can be entered); objects with `properties` are closed unless additionalProperties is
 * a schema or true; every property can be started, so each must admit a value; array items too.
 */
import { checkJsonSchema } from '../data/index.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const SCALARS = ['string', 'number', 'integer', 'boolean', 'null'];

/** The problem with `schema` at `path` (a JSON-path-like name for messages), or null when decoding can use it. */
export function schemaLanguageProblem(schema: unknown, path: string): string | null {
  const shape = checkJsonSchema(schema, path);
  if (shape) return shape;
  if (!isObj(schema)) return null; // true / false: the grammar reads neither as a restriction
  const walker = new Walker(schema);
  return walker.check(schema, path, 0);
}

class Walker {
  // Schemas proven to admit a value; those being proven (a cycle through required parts admits nothing).
  readonly #admits = new Map<Obj, boolean>();
  readonly #proving = new Set<Obj>();
  readonly #checked = new Set<Obj>();

  constructor(readonly root: Obj) {}

  /** Follows local $refs; undefined when one does not resolve. */
  resolve(s: Obj): Obj | undefined {
    let cur = s;
    for (let hops = 0; typeof cur.$ref === 'string'; hops++) {
      const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(cur.$ref);
      const defs = m ? this.root[m[1]] : undefined;
      const target = m && isObj(defs) ? defs[decodeURIComponent(m[2])] : undefined;
      if (!isObj(target) || hops > 32) return undefined;
      cur = target;
    }
    return cur;
  }

  /** First subschema the grammar can enter that admits no value, as a message; null when none. */
  check(s0: Obj, path: string, depth: number): string | null {
    const s = this.resolve(s0);
    if (!s) return `${path}.$ref ${JSON.stringify(s0.$ref)} does not resolve to a schema in #/$defs or #/definitions`;
    if (this.#checked.has(s) || depth > 64) return null;
    this.#checked.add(s);
    if (!this.admits(s)) return `${path} admits no value, so no output could match it (${reasonOf(s)})`;
    for (const [sub, at] of this.children(s, path)) {
      const bad = this.check(sub, at, depth + 1);
      if (bad) return bad;
    }
    return null;
  }

  /** The subschemas the grammar may enter from s, with their paths. */
  children(s: Obj, path: string): [Obj, string][] {
    const out: [Obj, string][] = [];
    const branches = (s.anyOf ?? s.oneOf) as unknown;
    if (Array.isArray(branches)) return branches.flatMap((b, i) => (isObj(b) ? [[b, `${path}.${s.anyOf ? 'anyOf' : 'oneOf'}[${i}]`] as [Obj, string]] : []));
    if (enumTexts(s)) return out;
    if (isObj(s.properties)) for (const [k, v] of Object.entries(s.properties)) if (isObj(v)) out.push([v, `${path}.properties.${k}`]);
    if (isObj(s.additionalProperties)) out.push([s.additionalProperties, `${path}.additionalProperties`]);
    if (isObj(s.items)) out.push([s.items, `${path}.items`]);
    return out;
  }

  admits(s0: Obj): boolean {
    const s = this.resolve(s0);
    if (!s) return false;
    const known = this.#admits.get(s);
    if (known !== undefined) return known;
    if (this.#proving.has(s)) return false;
    this.#proving.add(s);
    const result = this.#compute(s);
    this.#proving.delete(s);
    this.#admits.set(s, result);
    return result;
  }

  #compute(s: Obj): boolean {
    const branches = (s.anyOf ?? s.oneOf) as unknown;
    if (Array.isArray(branches)) return branches.some((b) => isObj(b) && this.admits(b));
    const values = enumTexts(s);
    if (values) return values.length > 0;
    const types = typeSet(s);
    if (types === null || SCALARS.some((t) => types.has(t)) || types.has('array')) return true;
    return types.has('object') && this.objectAdmits(s);
  }

  objectAdmits(s: Obj): boolean {
    const required = Array.isArray(s.required) ? (s.required as string[]) : [];
    const props = isObj(s.properties) ? s.properties : null;
    const open = props === null || (s.additionalProperties !== undefined && s.additionalProperties !== false);
    return required.every((k) => {
      if (props && k in props) return !isObj(props[k]) || this.admits(props[k] as Obj);
      if (!open) return false;
      return !isObj(s.additionalProperties) || this.admits(s.additionalProperties);
    });
  }
}

function enumTexts(s: Obj): unknown[] | null {
  if ('const' in s) return [s.const];
  return Array.isArray(s.enum) ? s.enum : null;
}

function typeSet(s: Obj): Set<string> | null {
  if (typeof s.type === 'string') return new Set([s.type]);
  return Array.isArray(s.type) ? new Set(s.type.filter((t): t is string => typeof t === 'string')) : null;
}

function reasonOf(s: Obj): string {
  const values = enumTexts(s);
  if (values && values.length === 0) return 'its enum is empty';
  const required = Array.isArray(s.required) ? (s.required as string[]) : [];
  const props = isObj(s.properties) ? s.properties : {};
  const missing = required.filter((k) => !(k in props));
  if (missing.length && isObj(s.properties) && (s.additionalProperties === undefined || s.additionalProperties === false)) {
    return `it requires ${missing.map((k) => JSON.stringify(k)).join(', ')} but allows no such property`;
  }
  return 'none of its alternatives or required properties can be completed';
}
