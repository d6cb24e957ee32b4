import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canEnd, feedText, startJson, type JsonSchema } from './json-grammar.ts';

function accepts(schema: JsonSchema | null, text: string): boolean {
  const s = feedText(startJson(schema), text);
  return s !== null && canEnd(s);
}

function prefixOk(schema: JsonSchema | null, text: string): boolean {
  return feedText(startJson(schema), text) !== null;
}

test('json_object mode accepts objects with any values and rejects other documents', () => {
  assert.ok(accepts(null, '{"a": [1, -2.5e3, true, null, "x\\n\\u00e9"], "b": {}}'));
  assert.ok(accepts(null, '{}'));
  assert.ok(!prefixOk(null, '['));
  assert.ok(!prefixOk(null, '{"a" 1'));
  assert.ok(!prefixOk(null, '{"a":01'));
  assert.ok(!prefixOk(null, '{"a":1,}'));
  assert.ok(!accepts(null, '{"a":1'));
});

test('whitespace between tokens is limited to one character', () => {
  assert.ok(accepts(null, '{ "a": 1 }'));
  assert.ok(!prefixOk(null, '{  "a"'));
  assert.ok(!prefixOk(null, '{}  '));
});

test('a schema restricts keys, value types, enums and required properties', () => {
  const schema: JsonSchema = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      age: { type: 'integer' },
      color: { enum: ['red', 'green'] },
      tags: { type: 'array', items: { type: 'string' } },
    },
    required: ['name', 'age'],
  };
  assert.ok(accepts(schema, '{"name": "Ann", "age": 31, "color": "green", "tags": ["a"]}'));
  assert.ok(!prefixOk(schema, '{"nick"'));
  assert.ok(!prefixOk(schema, '{"age": 3.5'));
  assert.ok(!prefixOk(schema, '{"color": "blue"'));
  assert.ok(!prefixOk(schema, '{"name": "Ann"}'));
  assert.ok(!prefixOk(schema, '{"tags": [1'));
  assert.ok(!prefixOk(schema, '{"name": "a", "name"'));
});

test('anyOf, type lists, const and local refs are followed', () => {
  const schema: JsonSchema = {
    type: 'object',
    properties: { v: { anyOf: [{ type: 'string' }, { type: 'null' }] }, p: { $ref: '#/$defs/P' }, k: { const: 3 } },
    required: ['v', 'p', 'k'],
    $defs: { P: { type: ['integer', 'boolean'] } },
  };
  assert.ok(accepts(schema, '{"v":null,"p":true,"k":3}'));
  assert.ok(accepts(schema, '{"v":"s","p":12,"k":3}'));
  assert.ok(!prefixOk(schema, '{"v":1'));
  assert.ok(!prefixOk(schema, '{"v":null,"p":"x"'));
  assert.ok(!prefixOk(schema, '{"v":null,"p":1,"k":4'));
});

test('minItems 1 refuses an empty list and maxItems bounds the items (forced tool-call lists)', () => {
  const one = { type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 1 };
  assert.ok(!prefixOk(one, '[]'));
  assert.ok(!prefixOk(one, '[ ]'));
  assert.ok(accepts(one, '[1]'));
  assert.ok(!prefixOk(one, '[1,'));
  const some = { type: 'array', items: { type: 'integer' }, minItems: 1 };
  assert.ok(accepts(some, '[1, 2, 3]'));
  assert.ok(accepts({ type: 'array' }, '[]'));
});
