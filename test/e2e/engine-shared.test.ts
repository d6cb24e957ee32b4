/**
 * One engine process per base model serves generation and classification: a classify request and
 * a generation go to the same `trainer.serve` process, each answered on its own channel.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ensureBuiltInModel, repoRoot, resolveBaseModel, resolvePython } from '../../src/models/index.ts';
import { Engine, type ClassifyEvent, type RequestEvent } from '../../src/serving/index.ts';

test('a classify request and a generation share the base model\'s one engine process', async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'atelier-engine-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const dirs = { modelsDir: '', dataDir, python: '', baseModels: [], hfHubCache: '' };
  await ensureBuiltInModel(dirs);
  const base = await resolveBaseModel('tiny-mistral', dirs);
  const engine = new Engine({ python: resolvePython(''), cwd: repoRoot, modelDir: base.dir, device: 'cpu', maxAdapters: 2, maxBatch: 2, maxSeqLen: 64, threads: 1 });
  t.after(() => engine.close());
  const classified = new Promise<ClassifyEvent>((resolve) => engine.classify(path.join(dataDir, 'no-adapter'), [[1, 5, 6]], resolve));
  const generated = new Promise<RequestEvent[]>((resolve) => {
    const events: RequestEvent[] = [];
    engine.generate({ adapter: null, prompt: [1, 5, 6], max_tokens: 3, temperature: 0, top_p: 1, seed: null, stop: [], n: 1 }, (e) => {
      events.push(e);
      if (e.type !== 'token') resolve(events);
    });
  });
  const answer = await classified;
  assert.equal(answer.type, 'error', 'a folder without an adapter is refused');
  assert.match(answer.type === 'error' ? answer.message : '', /adapter/);
  const events = await generated;
  assert.deepEqual(events.map((e) => e.type), ['token', 'token', 'token', 'done']);
  assert.equal(engine.starts, 1, 'both went to one process');
  assert.equal(engine.inFlight, 0);
});
