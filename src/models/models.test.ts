import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { builtInModelId, isBaseModelId, listBaseModelIds, repoRoot, resolveBaseModel, UnknownBaseModelError } from './index.ts';

function modelsDirWithCopy(name: string): string {
  const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'atelier-models-'));
  const dir = path.join(modelsDir, name);
  cpSync(path.join(repoRoot, 'models', builtInModelId, 'params.json'), path.join(dir, 'params.json'), { recursive: true });
  cpSync(path.join(repoRoot, 'models', builtInModelId, 'tokenizer.model.v3'), path.join(dir, 'tokenizer.model.v3'));
  return modelsDir;
}

test('a base model resolves once and is re-read when its params.json changes', async (t) => {
  const modelsDir = modelsDirWithCopy('mine');
  t.after(() => rmSync(modelsDir, { recursive: true, force: true }));
  const dirs = { modelsDir, dataDir: modelsDir, python: '', baseModels: [], hfHubCache: '' };
  const first = await resolveBaseModel('mine', dirs);
  assert.equal(first.tokenizerPath, path.join(modelsDir, 'mine', 'tokenizer.model.v3'));
  assert.equal(await resolveBaseModel('mine', dirs), first, 'the second lookup is the cached record');
  const spec = path.join(modelsDir, 'mine', 'params.json');
  const params = JSON.parse(readFileSync(spec, 'utf8')) as Record<string, unknown>;
  writeFileSync(spec, JSON.stringify({ ...params, max_seq_len: 1234 }));
  utimesSync(spec, new Date(), new Date(Date.now() + 5000));
  const changed = await resolveBaseModel('mine', dirs);
  assert.equal(changed.maxSeqLen, 1234);
  assert.notEqual(changed, first);
});

test('unknown ids are refused with the list of base models, without generating anything', async (t) => {
  const modelsDir = modelsDirWithCopy('mine');
  t.after(() => rmSync(modelsDir, { recursive: true, force: true }));
  const dirs = { modelsDir, dataDir: modelsDir, python: '/nonexistent/python', baseModels: [], hfHubCache: '' };
  assert.deepEqual(await listBaseModelIds(dirs), [builtInModelId, 'mine']);
  assert.equal(isBaseModelId('mine', dirs), true);
  assert.equal(isBaseModelId('../mine', dirs), false);
  await assert.rejects(resolveBaseModel('other', dirs), (err: unknown) => err instanceof UnknownBaseModelError && /available: tiny-mistral, mine/.test(err.message));
  const tiny = await resolveBaseModel(builtInModelId, dirs); // a lookup never spawns Python (the python path is bogus)
  assert.equal(tiny.layout, 'native');
});
