// The README's main command, as a newcomer runs it: `atelier quickstart --once` starts a real
// `atelier serve`, fine-tunes tiny-mistral on the bundled example and compares the answers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const root = path.join(import.meta.dirname, '..', '..');

function runQuickstart(dataDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'atelier.js'), 'quickstart', '--once', '--data-dir', dataDir], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The quoted answer on the line that starts with `label` (after indentation). */
function answersOf(stdout: string, label: string): string[] {
  return stdout.split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${label} `) && l.slice(label.length).trim().startsWith('"'))
    .map((l) => JSON.parse(l.slice(label.length).trim()) as string);
}

test('quickstart --once fine-tunes tiny-mistral until it reproduces the trained answers', { timeout: 600_000 }, async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-quickstart-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const { code, stdout, stderr } = await runQuickstart(dataDir);
  assert.equal(code, 0, `quickstart failed:\n${stdout}\n${stderr}`);

  assert.match(stdout, /created job \S+ \(auto_start false\)/);
  assert.match(stdout, /train tokens per step\s+\d+/, 'the estimate is shown before training');
  assert.match(stdout, /training \[.*\] 100%/, 'a progress bar reaches 100%');
  assert.match(stdout, /fine-tuned model: ft:tiny-mistral:pirate:[0-9a-f]{8}:\d{8}:[0-9a-f]{8}/);

  const tuned = answersOf(stdout, 'fine-tuned');
  const trained = answersOf(stdout, 'trained answer');
  const base = answersOf(stdout, 'tiny-mistral');
  assert.equal(tuned.length, 3);
  assert.deepEqual(tuned, trained, 'greedy answers of the fine-tuned model equal the trained ones');
  assert.ok(base.every((b, i) => b !== trained[i]), 'the base model does not already know them');
});
