import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { baseModelReadsImages, builtInModelId, builtInModelIds, isBaseModelId, listBaseModelIds, repoRoot, resolveBaseModel, UnknownBaseModelError } from './index.ts';

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
  assert.deepEqual(await listBaseModelIds(dirs), [...builtInModelIds(), 'mine']);
  assert.equal(isBaseModelId('mine', dirs), true);
  assert.equal(isBaseModelId('../mine', dirs), false);
  await assert.rejects(resolveBaseModel('other', dirs), (err: unknown) => err instanceof UnknownBaseModelError && err.message.endsWith(`available: ${[...builtInModelIds(), 'mine'].join(', ')}`));
  const tiny = await resolveBaseModel(builtInModelId, dirs); // a lookup never spawns Python (the python path is bogus)
  assert.equal(tiny.layout, 'native');
});

test('a base model reads images when its params.json has a vision_encoder section, or its config.json a vision_config', async (t) => {
  const modelsDir = modelsDirWithCopy('text');
  t.after(() => rmSync(modelsDir, { recursive: true, force: true }));
  const params = JSON.parse(readFileSync(path.join(modelsDir, 'text', 'params.json'), 'utf8')) as Record<string, unknown>;
  const visionDir = path.join(modelsDir, 'seeing');
  cpSync(path.join(modelsDir, 'text'), visionDir, { recursive: true });
  const encoder = { hidden_size: 64, num_channels: 3, image_size: 1024, patch_size: 16, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 2 };
  writeFileSync(path.join(visionDir, 'params.json'), JSON.stringify({ ...params, vision_encoder: encoder }));
  const hfDir = path.join(modelsDir, 'seeing-hf');
  cpSync(path.join(modelsDir, 'text', 'tokenizer.model.v3'), path.join(hfDir, 'tokenizer.model.v3'), { recursive: true });
  const hf = { hidden_size: 32, num_hidden_layers: 1, intermediate_size: 64, num_attention_heads: 4, vocab_size: 32768 };
  writeFileSync(path.join(hfDir, 'config.json'), JSON.stringify({ ...hf, vision_config: { patch_size: 16 } }));
  const dirs = { modelsDir, dataDir: modelsDir, python: '', baseModels: [], hfHubCache: '' };
  assert.equal((await resolveBaseModel('text', dirs)).vision, false);
  assert.equal((await resolveBaseModel(builtInModelId, dirs)).vision, false);
  assert.equal((await resolveBaseModel('seeing', dirs)).vision, true);
  assert.equal((await resolveBaseModel('seeing-hf', dirs)).vision, true);
  // The models API's cheaper read agrees, and a params.json that does not parse reads no images instead of failing the listing.
  for (const id of ['text', 'seeing', 'seeing-hf', 'gone']) assert.equal(await baseModelReadsImages(id, dirs), id.startsWith('seeing'));
  writeFileSync(path.join(visionDir, 'params.json'), '{"dim": ');
  assert.equal(await baseModelReadsImages('seeing', dirs), false);
});

test('tiny-pixtral is a built-in exactly when its generator is in the checkout, and it reads images once generated', async () => {
  const generator = existsSync(path.join(repoRoot, 'trainer', 'tiny_pixtral.py'));
  assert.equal(builtInModelIds().includes('tiny-pixtral'), generator || existsSync(path.join(repoRoot, 'models', 'tiny-pixtral', 'consolidated.safetensors')));
  assert.equal(builtInModelIds()[0], builtInModelId);
  const generated = path.join(repoRoot, 'models', 'tiny-pixtral', 'params.json');
  if (existsSync(generated)) {
    const dirs = { modelsDir: '', dataDir: os.tmpdir(), python: '', baseModels: [], hfHubCache: '' };
    const pixtral = await resolveBaseModel('tiny-pixtral', dirs);
    assert.equal(pixtral.vision, true);
    assert.equal(path.basename(pixtral.tokenizerPath), 'tekken.json');
  }
});
