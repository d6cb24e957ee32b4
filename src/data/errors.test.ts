import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataErrorCodes } from './errors.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const docs = readFileSync(path.join(here, '../../docs/data-errors.md'), 'utf8');
const codes = Object.keys(dataErrorCodes);

test('every dataset error code is documented with an example', () => {
  for (const code of codes) assert.match(docs, new RegExp(`^\\| \`${code}\` \\|[^\\n]*\\|[^\\n]+\\|$`, 'm'), code);
});

test('the docs list no code that does not exist', () => {
  const documented = [...docs.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.filter((c) => !codes.includes(c)), []);
  assert.equal(new Set(documented).size, documented.length);
});

test('every code is used by the validator sources', () => {
  const sources = readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'errors.ts')
    .map((f) => readFileSync(path.join(here, f), 'utf8'))
    .join('\n');
  assert.deepEqual(codes.filter((c) => !sources.includes(`'${c}'`)), []);
});
