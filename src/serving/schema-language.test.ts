import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canEnd, feedText, startJson, type JsonSchema } from './json-grammar.ts';
import { schemaLanguageProblem } from './schema-language.ts';

const at = 'response_format.json_schema.schema';

test('schemas whose language is empty are refused, naming the path', () => {
  assert.match(schemaLanguageProblem({ enum: [] }, at) ?? '', /^response_format\.json_schema\.schema admits no value.*enum is empty/);
  assert.match(schemaLanguageProblem({ type: 'banana' }, at) ?? '', /schema\.type must be one of/);
  const absent = { type: 'object', properties: { a: { type: 'string' } }, required: ['b'], additionalProperties: false };
  assert.match(schemaLanguageProblem(absent, at) ?? '', /requires "b" but allows no such property/);
  const nested = { type: 'object', properties: { a: { type: 'array', items: { enum: [] } } } };
  assert.match(schemaLanguageProblem(nested, at) ?? '', /schema\.properties\.a\.items admits no value/);
  assert.match(schemaLanguageProblem({ anyOf: [{ type: 'string' }, { enum: [] }] }, at) ?? '', /anyOf\[1\] admits no value/);
  assert.match(schemaLanguageProblem({ $ref: '#/$defs/missing' }, at) ?? '', /\$ref "#\/\$defs\/missing" does not resolve/);
  // A required cycle has no finite value.
  const loop = { $defs: { n: { type: 'object', properties: { next: { $ref: '#/$defs/n' } }, required: ['next'] } }, $ref: '#/$defs/n' };
  assert.match(schemaLanguageProblem(loop, at) ?? '', /admits no value/);
});

test('schemas that admit output pass, recursion through optional parts included', () => {
  const ok: JsonSchema[] = [
    {},
    { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
    { type: 'object', required: ['x'], additionalProperties: false },
    { enum: ['a', 1, null] },
    { anyOf: [{ type: 'integer' }, { type: 'null' }] },
    { $defs: { n: { type: 'object', properties: { next: { $ref: '#/$defs/n' } } } }, $ref: '#/$defs/n' },
    { type: ['object', 'null'], properties: { a: { enum: [] } }, required: ['a'] },
  ];
  for (const s of ok.slice(0, 6)) assert.equal(schemaLanguageProblem(s, at), null, JSON.stringify(s));
  // Every property can be entered by the grammar, so an empty one is refused even where null is allowed.
  assert.match(schemaLanguageProblem(ok[6], at) ?? '', /properties\.a admits no value/);
});

test('what passes really has a complete document the grammar accepts', () => {
  const s = { type: 'object', properties: { a: { type: 'string' }, b: { enum: [1, 2] } }, required: ['a', 'b'], additionalProperties: false };
  assert.equal(schemaLanguageProblem(s, at), null);
  const state = feedText(startJson(s), '{"a":"x","b":2}');
  assert.ok(state && canEnd(state));
});
