// The `atelier` client CLI against a live server with a worker, each command spawned as a user runs
// it (`node bin/atelier.js …`, server and key from ATELIER_URL / ATELIER_API_KEY): files, jobs
// (create --no-start, start, watch to SUCCESS), models, chat (one-shot and the stdin REPL), --json,
// exit codes; and --help on every command and sub-command, --version.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

process.env.OMP_NUM_THREADS ??= '1'; // one intra-op thread per trainer/engine on a shared runner

const root = path.join(import.meta.dirname, '..', '..');
const trainFile = path.join(root, 'examples', 'quickstart', 'train.jsonl');
let server: TestServer;
let worker: RunningWorker;

type Result = { code: number | null; stdout: string; stderr: string };

function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const env = { ...process.env, ATELIER_URL: server.url, ATELIER_API_KEY: server.key, ...opts.env };
  const child = spawn(process.execPath, [path.join(root, 'bin', 'atelier.js'), ...args], { cwd: server.dataDir, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

async function ok(args: string[], opts?: Parameters<typeof cli>[1]): Promise<Result> {
  const r = await cli(args, opts);
  assert.equal(r.code, 0, `atelier ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return JSON.parse((await ok([...args, '--json'])).stdout) as T;
}

before(async () => {
  server = await startTestServer({ settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1, servingMaxSeqLen: 256 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
});

after(async () => {
  await worker?.stop();
  await server?.close();
});

describe('atelier CLI against a live server', () => {
  let fileId = '';
  let modelId = '';

  it('files upload | list | get | download | delete', async () => {
    const up = await json<{ id: string; filename: string; purpose: string }>(['files', 'upload', trainFile]);
    assert.equal(up.filename, 'train.jsonl');
    assert.equal(up.purpose, 'fine-tune');
    fileId = up.id;
    assert.match((await ok(['files', 'list'])).stdout, new RegExp(`${fileId}\\s+train\\.jsonl\\s+fine-tune`));
    assert.equal((await json<{ id: string }>(['files', 'get', fileId])).id, fileId);
    await ok(['files', 'download', fileId, '-o', 'copy.jsonl']);
    assert.equal(await readFile(path.join(server.dataDir, 'copy.jsonl'), 'utf8'), await readFile(trainFile, 'utf8'));
    const extra = await json<{ id: string }>(['files', 'upload', path.join(root, 'examples', 'quickstart', 'valid.jsonl')]);
    assert.match((await ok(['files', 'delete', extra.id])).stdout, new RegExp(`deleted ${extra.id}`));
    const gone = await cli(['files', 'get', extra.id]);
    assert.equal(gone.code, 1, 'a 404 exits 1');
    assert.match(gone.stderr, /404/);
  });

  it('jobs create --no-start | get | start | watch (to SUCCESS) | list; cancel', async () => {
    const created = await json<{ id: string; status: string }>(['jobs', 'create', '--model', 'tiny-mistral', '--training-file', fileId, '--steps', '6', '--seq-len', '128', '--learning-rate', '0.001', '--no-start']);
    let got = await json<{ status: string }>(['jobs', 'get', created.id]);
    for (let i = 0; got.status !== 'VALIDATED' && i < 100; i++) got = await json<{ status: string }>(['jobs', 'get', created.id]);
    assert.equal(got.status, 'VALIDATED');
    assert.match((await ok(['jobs', 'get', created.id])).stdout, /steps: 6, train tokens: \d+/);
    assert.match((await ok(['jobs', 'start', created.id])).stdout, new RegExp(`^${created.id}  (VALIDATED|QUEUED|RUNNING|SUCCESS)`));
    const watched = await ok(['jobs', 'watch', created.id, '--interval', '0.2']);
    assert.match(watched.stderr, /6\/6/, 'the bar reaches the last step');
    assert.match(watched.stderr, /loss \d+\.\d{4}/);
    assert.match(watched.stderr, new RegExp(`job ${created.id} ended SUCCESS: ft:tiny-mistral:`));
    const list = await ok(['jobs', 'list', '--status', 'SUCCESS']);
    assert.match(list.stdout, new RegExp(`${created.id}\\s+SUCCESS\\s+tiny-mistral\\s+ft:`));
    modelId = (await json<{ fine_tuned_model: string }>(['jobs', 'get', created.id])).fine_tuned_model;
    const other = await json<{ id: string }>(['jobs', 'create', '--model', 'tiny-mistral', '--training-file', `${fileId}:2`, '--steps', '3', '--no-start']);
    assert.equal((await json<{ status: string }>(['jobs', 'cancel', other.id])).status, 'CANCELLED');
    const again = await cli(['jobs', 'watch', other.id]);
    assert.equal(again.code, 1, 'watch exits 1 when the job did not succeed');
    assert.match(again.stderr, /ended CANCELLED/);
  });

  it('models list | get | update | archive | delete', async () => {
    assert.ok(modelId.startsWith('ft:tiny-mistral:'), modelId);
    const list = await ok(['models', 'list']);
    assert.match(list.stdout, /tiny-mistral\s+base/);
    assert.ok(list.stdout.includes(modelId));
    assert.equal((await json<{ id: string }>(['models', 'get', modelId])).id, modelId);
    const updated = await json<{ name: string }>(['models', 'update', modelId, '--name', 'pirate', '--description', 'speaks like one']);
    assert.equal(updated.name, 'pirate');
    assert.deepEqual(await json(['models', 'archive', modelId]), { id: modelId, object: 'model', archived: true });
    assert.equal((await json<{ archived: boolean }>(['models', 'archive', modelId, '--undo'])).archived, false);
  });

  it('chat MODEL: one-shot -m (text and --json) and the stdin REPL, streamed', async () => {
    const one = await ok(['chat', modelId, '-m', 'Hello', '--max-tokens', '8', '--temperature', '0']);
    assert.ok(one.stdout.trim().length > 0, 'an answer is printed');
    const full = await json<{ object: string; choices: { message: { content: string } }[] }>(['chat', modelId, '-m', 'Hello', '--max-tokens', '8', '--temperature', '0']);
    assert.equal(full.object, 'chat.completion');
    assert.equal(full.choices[0]?.message.content.trim(), one.stdout.trim(), 'greedy: the streamed text equals the whole completion');
    const repl = await ok(['chat', modelId, '--max-tokens', '4', '--temperature', '0'], { input: 'Hello\n\nAnd then?\n/exit\nnot sent\n' });
    assert.equal(repl.stdout.trim().split('\n').filter(Boolean).length >= 2, true, `two answers: ${repl.stdout}`);
    const unknown = await cli(['chat', 'no-such-model', '-m', 'hi']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no-such-model/);
  });

  it('models delete removes the fine-tuned model', async () => {
    assert.match((await ok(['models', 'delete', modelId])).stdout, /deleted/);
    assert.equal((await cli(['models', 'get', modelId])).code, 1);
  });

  it('exit codes: 2 for usage errors, 3 when no server answers, 2 without a key', async () => {
    const usage = await cli(['jobs', 'create', '--model', 'tiny-mistral']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--training-file/);
    assert.equal((await cli(['files', 'get'])).code, 2, 'a missing argument');
    assert.equal((await cli(['files', 'list', '--bogus'])).code, 2, 'an unknown flag');
    const down = await cli(['files', 'list', '--url', 'http://127.0.0.1:9']);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
    const noKey = await cli(['files', 'list'], { env: { ATELIER_API_KEY: '' } });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /ATELIER_API_KEY/);
    const badKey = await cli(['files', 'list', '--api-key', 'wrong']);
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /401/);
  });
});

/** Runs main() in this process with console.log/error captured (help needs no server). */
async function inProcess(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  console.error = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    return { code: await main(args), out: lines.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

describe('atelier --help and --version', () => {
  const groups: Record<string, string[]> = {
    files: ['upload', 'list', 'get', 'delete', 'download'],
    jobs: ['create', 'list', 'get', 'start', 'cancel', 'watch'],
    models: ['list', 'get', 'update', 'archive', 'delete'],
    keys: ['create', 'list'],
    data: ['validate', 'stats', 'reformat', 'split', 'tokenize'],
  };

  it('every command and sub-command answers --help with exit 0 and its usage', async () => {
    for (const command of ['serve', 'worker', 'quickstart', 'chat', ...Object.keys(groups)]) {
      const r = await inProcess([command, '--help']);
      assert.equal(r.code, 0, `atelier ${command} --help: ${r.out}`);
      assert.match(r.out, /usage: atelier/, `atelier ${command} --help prints a usage`);
    }
    for (const [group, subs] of Object.entries(groups)) {
      for (const sub of subs) {
        const r = await inProcess([group, sub, '--help']);
        assert.equal(r.code, 0, `atelier ${group} ${sub} --help: ${r.out}`);
        assert.match(r.out, /usage/i, `atelier ${group} ${sub} --help prints a usage`);
      }
    }
  });

  it('--version prints the package version (spawned)', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
    assert.equal((await ok(['--version'])).stdout.trim(), `atelier ${pkg.version}`);
    const top = await ok(['--help']);
    for (const c of ['files', 'jobs', 'models', 'chat']) assert.match(top.stdout, new RegExp(`\\n  ${c} `));
  });
});
