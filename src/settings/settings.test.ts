import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderConfigurationDoc } from './docs.ts';
import { definitions, loadSettings } from './index.ts';

test('defaults apply when neither flag nor environment sets a value', () => {
  const s = loadSettings({}, {});
  assert.equal(s.port, 8000);
  assert.equal(s.maxFileBytes, 512 * 1024 * 1024);
  assert.deepEqual(s.apiKeys, []);
});

test('a flag overrides the environment, which overrides the default', () => {
  const env = { ATELIER_PORT: '9001', ATELIER_API_KEYS: 'k1, k2,' };
  assert.equal(loadSettings({}, env).port, 9001);
  assert.equal(loadSettings({ port: '9002' }, env).port, 9002);
  assert.deepEqual(loadSettings({}, env).apiKeys, ['k1', 'k2']);
});

test('a bad value names the variable and the problem', () => {
  assert.throws(() => loadSettings({}, { ATELIER_PORT: 'eighty' }), /ATELIER_PORT="eighty"/);
});

test('every environment variable is unique and prefixed', () => {
  const envs = Object.values(definitions).map((d) => d.env);
  assert.equal(new Set(envs).size, envs.length);
  for (const e of envs) assert.match(e, /^ATELIER_[A-Z0-9_]+$/);
});

test('docs/configuration.md is up to date with the settings registry', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(doc, renderConfigurationDoc(), 'run: npx tsx scripts/gen-config-docs.ts');
});
