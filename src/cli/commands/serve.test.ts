// `atelier serve` and `atelier keys` as a person runs them: a real process, its printed URL,
// /health, a key created by the CLI in another process, and a clean exit on SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { it } from 'node:test';
import { run as runKeys } from './keys.ts';
import { parseServeFlags } from './serve.ts';
import { builtInModelIds } from '../../models/index.ts';

const bin = path.join(import.meta.dirname, '..', '..', '..', 'bin', 'atelier.js');

async function captureStdout(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.join(' '));
  try {
    return { code: await fn(), out: lines.join('\n') };
  } finally {
    console.log = original;
  }
}

it('merges --api-key flags with ATELIER_API_KEYS and rejects unknown flags', () => {
  const { settings } = parseServeFlags(['--port', '0', '--api-key', 'a', '--api-key', 'b'], { ATELIER_API_KEYS: 'c,d' });
  assert.deepEqual(settings.apiKeys, ['c', 'd', 'a', 'b']);
  assert.equal(settings.port, 0);
  assert.throws(() => parseServeFlags(['--bogus']), /bogus/);
  assert.throws(() => parseServeFlags(['--port', 'x']), /port/);
});

it('--train-processes overrides ATELIER_TRAIN_PROCESSES; a bad count is refused', () => {
  assert.equal(parseServeFlags([], { ATELIER_TRAIN_PROCESSES: '3' }).settings.trainProcesses, 3);
  assert.equal(parseServeFlags(['--train-processes', '2'], { ATELIER_TRAIN_PROCESSES: '3' }).settings.trainProcesses, 2);
  assert.equal(parseServeFlags([], {}).settings.trainProcesses, 0);
  assert.throws(() => parseServeFlags(['--train-processes', 'two']), /whole number of processes/);
});

/** A hub cache at `home`/hub holding `repoId` (config.json only: flag parsing never reads weights). */
function fakeHubRepo(home: string, repoId: string): void {
  const repo = path.join(home, 'hub', `models--${repoId.replace('/', '--')}`);
  mkdirSync(path.join(repo, 'snapshots', 'rev1'), { recursive: true });
  writeFileSync(path.join(repo, 'snapshots', 'rev1', 'config.json'), '{}');
  mkdirSync(path.join(repo, 'refs'));
  writeFileSync(path.join(repo, 'refs', 'main'), 'rev1');
}

it('merges --base-model with ATELIER_BASE_MODELS, finds the hub cache through HF_HOME, and stops on a missing repo', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'atelier-hf-home-'));
  t.after(() => rm(home, { recursive: true, force: true }));
  fakeHubRepo(home, 'org/one');
  fakeHubRepo(home, 'org/two');
  const { settings } = parseServeFlags(['--base-model', 'org/two'], { HF_HOME: home, ATELIER_BASE_MODELS: 'org/one' });
  assert.deepEqual(settings.baseModels, ['org/one', 'org/two']);
  assert.equal(settings.hfHubCache, path.join(home, 'hub'));
  assert.equal(parseServeFlags([], { HF_HUB_CACHE: '/x/hub', HF_HOME: home }).settings.hfHubCache, '/x/hub');
  assert.equal(parseServeFlags([], { ATELIER_HF_HUB_CACHE: '/y', HF_HUB_CACHE: '/x/hub' }).settings.hfHubCache, '/y');
  assert.throws(() => parseServeFlags(['--base-model', 'org/three'], { HF_HOME: home }), /org\/three is not in the Hugging Face cache/);
});

it('serves /health and the --base-model / ATELIER_BASE_MODELS models, accepts a key made by `atelier keys create`, and exits 0 on SIGTERM', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-serve-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const created = await captureStdout(() => runKeys(['create', '--workspace', 'team-x', '--data-dir', dataDir, '--json']));
  assert.equal(created.code, 0);
  const { key, workspace_id } = JSON.parse(created.out) as { key: string; workspace_id: string };
  assert.match(workspace_id, /^[0-9a-f]{8}$/);

  fakeHubRepo(dataDir, 'org/one'); // the data dir doubles as HF_HOME
  fakeHubRepo(dataDir, 'org/two');
  const env = { ...process.env, HF_HOME: dataDir, ATELIER_BASE_MODELS: 'org/one', ATELIER_HF_HUB_CACHE: '', HF_HUB_CACHE: '' };
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--data-dir', dataDir, '--api-key', 'flag-key', '--base-model', 'org/two'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  let url = '';
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^Atelier listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
    if (m) {
      url = m[1];
      break;
    }
  }
  assert.ok(url, 'serve printed its URL');
  assert.equal((await fetch(`${url}/health`)).status, 200);
  for (const k of [key, 'flag-key']) assert.equal((await fetch(`${url}/v1/files`, { headers: { authorization: `Bearer ${k}` } })).status, 200);
  assert.equal((await fetch(`${url}/v1/files`, { headers: { authorization: 'Bearer nope' } })).status, 401);
  const models = (await (await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer flag-key' } })).json()) as { data: { id: string; hf_repo_id?: string }[] };
  assert.deepEqual(models.data.map((m) => [m.id, m.hf_repo_id]), [...builtInModelIds().map((id) => [id, undefined]), ['org/one', 'org/one'], ['org/two', 'org/two']]);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);

  const listed = await captureStdout(() => runKeys(['list', '--data-dir', dataDir, '--json']));
  assert.deepEqual(JSON.parse(listed.out).map((k: { workspace: string }) => k.workspace), ['team-x']);
  assert.equal((await captureStdout(() => runKeys(['create', '--data-dir', dataDir]))).code, 2);
});
