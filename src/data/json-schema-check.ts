/**
 * Checks that a value is a well-formed JSON Schema (Draft 7), the rule mistral-common applies to a
 * tool's `parameters` (it runs `Draft7Validator.check_schema`). Only the keywords' own shapes are
 * checked, as the Draft-7 meta-schema does; unknown keywords are allowed, as there.
 */
const TYPES = new Set(['null', 'boolean', 'object', 'array', 'number', 'string', 'integer']);
const SCHEMA_KEYWORDS = ['additionalItems', 'additionalProperties', 'contains', 'propertyNames', 'not', 'if', 'then', 'else'];
const SCHEMA_MAP_KEYWORDS = ['properties', 'patternProperties', 'definitions', '$defs'];
const SCHEMA_LIST_KEYWORDS = ['allOf', 'anyOf', 'oneOf'];
const COUNT_KEYWORDS = ['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties'];
const NUMBER_KEYWORDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];
const STRING_KEYWORDS = ['$id', '$schema', '$ref', '$comment', 'title', 'description', 'format', 'contentMediaType', 'contentEncoding'];
const MAX_DEPTH = 64;

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Returns a description of the first problem in `schema` (with its path), or null when valid. */
export function checkJsonSchema(schema: unknown, path = 'parameters'): string | null {
  return checkSchema(schema, path, 0);
}

function checkSchema(schema: unknown, path: string, depth: number): string | null {
  if (typeof schema === 'boolean') return null;
  if (!isObject(schema)) return `${path} must be an object (a JSON Schema)`;
  if (depth > MAX_DEPTH) return `${path} is nested deeper than ${MAX_DEPTH} levels`;
  return checkKeywords(schema, path, depth) ?? checkSubschemas(schema, path, depth);
}

function checkKeywords(s: Obj, path: string, depth: number): string | null {
  if ('type' in s && !isTypeValue(s.type)) {
    return `${path}.type must be one of ${[...TYPES].join(', ')} (or a list of them)`;
  }
  if ('required' in s && !isUniqueStrings(s.required)) return `${path}.required must be a list of distinct strings`;
  if ('enum' in s && !Array.isArray(s.enum)) return `${path}.enum must be a list`;
  if ('uniqueItems' in s && typeof s.uniqueItems !== 'boolean') return `${path}.uniqueItems must be true or false`;
  if ('multipleOf' in s && !(typeof s.multipleOf === 'number' && s.multipleOf > 0)) return `${path}.multipleOf must be a number > 0`;
  for (const k of COUNT_KEYWORDS) {
    if (k in s && !(Number.isInteger(s[k]) && (s[k] as number) >= 0)) return `${path}.${k} must be a non-negative integer`;
  }
  for (const k of NUMBER_KEYWORDS) if (k in s && typeof s[k] !== 'number') return `${path}.${k} must be a number`;
  for (const k of STRING_KEYWORDS) if (k in s && typeof s[k] !== 'string') return `${path}.${k} must be a string`;
  if ('pattern' in s && !isRegex(s.pattern)) return `${path}.pattern must be a valid regular expression`;
  if ('dependencies' in s) {
    if (!isObject(s.dependencies)) return `${path}.dependencies must be an object`;
    for (const [k, v] of Object.entries(s.dependencies)) {
      if (Array.isArray(v) ? !isUniqueStrings(v) : checkSchema(v, `${path}.dependencies.${k}`, depth + 1)) {
        return `${path}.dependencies.${k} must be a schema or a list of distinct strings`;
      }
    }
  }
  return null;
}

function checkSubschemas(s: Obj, path: string, depth: number): string | null {
  for (const k of SCHEMA_KEYWORDS) {
    if (k in s) {
      const bad = checkSchema(s[k], `${path}.${k}`, depth + 1);
      if (bad) return bad;
    }
  }
  for (const k of SCHEMA_MAP_KEYWORDS) {
    if (!(k in s)) continue;
    const map = s[k];
    if (!isObject(map)) return `${path}.${k} must be an object of schemas`;
    for (const [name, sub] of Object.entries(map)) {
      if (k === 'patternProperties' && !isRegex(name)) return `${path}.patternProperties key ${JSON.stringify(name)} is not a valid regular expression`;
      const bad = checkSchema(sub, `${path}.${k}.${name}`, depth + 1);
      if (bad) return bad;
    }
  }
  for (const k of SCHEMA_LIST_KEYWORDS) {
    if (!(k in s)) continue;
    const list = s[k];
    if (!Array.isArray(list) || list.length === 0) return `${path}.${k} must be a non-empty list of schemas`;
    for (let i = 0; i < list.length; i += 1) {
      const bad = checkSchema(list[i], `${path}.${k}[${i}]`, depth + 1);
      if (bad) return bad;
    }
  }
  if ('items' in s) {
    const items = s.items;
    if (Array.isArray(items)) {
      for (let i = 0; i < items.length; i += 1) {
        const bad = checkSchema(items[i], `${path}.items[${i}]`, depth + 1);
        if (bad) return bad;
      }
    } else return checkSchema(items, `${path}.items`, depth + 1);
  }
  return null;
}

function isTypeValue(t: unknown): boolean {
  if (typeof t === 'string') return TYPES.has(t);
  return Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string' && TYPES.has(x)) && new Set(t).size === t.length;
}

function isUniqueStrings(v: unknown): boolean {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') && new Set(v).size === v.length;
}

function isRegex(p: unknown): boolean {
  if (typeof p !== 'string') return false;
  try {
    new RegExp(p);
    return true;
  } catch (err) {
    if (err instanceof SyntaxError) return false;
    throw err;
  }
}
