// The baseModels setting's entries (hub-cache.ts) on small fake caches: repo ids resolve through
// refs/main offline, folders by name, snapshot folders to their repo id; every wrong entry is
// refused with what to do (serve.test.ts covers --base-model and HF_HOME).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BaseModelSourceError, builtInModelIds, checkBaseModels, isBaseModelId, listBaseModelIds } from './index.ts';
import { cacheFolderName, findInHubCache, registeredBaseModels, resolveEntry } from './hub-cache.ts';

const rev = 'a1b2c3d4'.repeat(5);

/** A cache holding `repoId` at `rev` (config.json only: resolution never reads weights). */
function fakeCache(root: string, repoId: string, files = ['config.json']): string {
  const snapshot = path.join(root, cacheFolderName(repoId), 'snapshots', rev);
  mkdirSync(snapshot, { recursive: true });
  for (const f of files) writeFileSync(path.join(snapshot, f), '{}');
  mkdirSync(path.join(root, cacheFolderName(repoId), 'refs'), { recursive: true });
  writeFileSync(path.join(root, cacheFolderName(repoId), 'refs', 'main'), `${rev}\n`);
  return snapshot;
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-hub-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a repo id resolves to the snapshot refs/main names, served under the repo id', (t) => {
  const cache = tempDir(t);
  const snapshot = fakeCache(cache, 'mistralai/Mistral-7B-v0.1');
  assert.deepEqual(resolveEntry('mistralai/Mistral-7B-v0.1', cache), { id: 'mistralai/Mistral-7B-v0.1', dir: snapshot, hfRepoId: 'mistralai/Mistral-7B-v0.1', revision: rev });
  assert.equal(findInHubCache('mistralai/Mistral-7B-v0.1', cache).revision, rev, 'the ref file\'s newline is trimmed');
  const sources = { modelsDir: '', baseModels: ['mistralai/Mistral-7B-v0.1'], hfHubCache: cache };
  assert.equal(isBaseModelId('mistralai/Mistral-7B-v0.1', sources), true);
  assert.equal(isBaseModelId('mistralai/Mistral-7B-v0.3', sources), false);
});

test('folders are served under their name, hub snapshots under their repo id, and ~ is the home folder', async (t) => {
  const root = tempDir(t);
  const folder = path.join(root, 'my-nemo');
  mkdirSync(folder);
  writeFileSync(path.join(folder, 'params.json'), '{}');
  const snapshot = fakeCache(path.join(root, 'hub'), 'org/name');
  const sources = { modelsDir: '', baseModels: [folder, snapshot], hfHubCache: path.join(root, 'elsewhere') };
  assert.deepEqual(checkBaseModels(sources).map((m) => [m.id, m.hfRepoId]), [['my-nemo', null], ['org/name', 'org/name']]);
  assert.deepEqual(await listBaseModelIds(sources), [...builtInModelIds(), 'my-nemo', 'org/name']);
  const relative = path.relative(os.homedir(), folder);
  if (!relative.startsWith('..')) assert.equal(resolveEntry(`~/${relative}`, '').dir, folder);
});

test('every wrong entry is refused at once, each with what to do', (t) => {
  const cache = tempDir(t);
  fakeCache(cache, 'org/partial', []); // refs/main and a snapshot, but no config.json downloaded
  mkdirSync(path.join(cache, cacheFolderName('org/stale'), 'refs'), { recursive: true });
  writeFileSync(path.join(cache, cacheFolderName('org/stale'), 'refs', 'main'), 'deadbeef');
  const entries = ['org/absent', 'org/partial', 'org/stale', 'a/b/c', './no-such-folder', '../x/..'];
  assert.throws(() => checkBaseModels({ baseModels: entries, hfHubCache: cache }), (err: unknown) => {
    assert.ok(err instanceof BaseModelSourceError);
    const lines = err.message.split('\n').slice(1).map((l) => l.trim());
    assert.equal(lines.length, entries.length);
    assert.match(lines[0] as string, /^org\/absent is not in the Hugging Face cache .* \(no models--org--absent\/refs\/main\); download it with `huggingface-cli download org\/absent`/);
    assert.match(lines[1] as string, /^org\/partial: snapshot a1b2c3d4\w+ has no config\.json or params\.json/);
    assert.match(lines[2] as string, /^org\/stale: refs\/main names revision 'deadbeef' but .* does not exist/);
    assert.match(lines[3] as string, /^'a\/b\/c' is neither a Hugging Face repo id \(org\/name\) nor a folder/);
    assert.match(lines[4] as string, /^base model folder .*no-such-folder does not exist$/);
    return true;
  });
  assert.deepEqual(registeredBaseModels({ baseModels: entries, hfHubCache: cache }), [], 'listing skips what does not resolve');
});

test('two entries served under one id are refused', (t) => {
  const cache = tempDir(t);
  const snapshot = fakeCache(cache, 'org/name');
  assert.throws(() => checkBaseModels({ baseModels: ['org/name', snapshot], hfHubCache: cache }), /two base models entries are served as 'org\/name'; keep one/);
});
