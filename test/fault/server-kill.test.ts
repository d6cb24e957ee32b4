// Fault suite: `atelier serve` SIGKILLed mid-upload leaves a partial temp file; the restarted server
// removes it (and any blob no row owns) and every file uploaded before the kill is still there,
// bytes included. SQLite and PostgreSQL (there only past ATELIER_ORPHAN_GRACE_MS, as another live
// server could own a young temp file).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { createTestSchema, pgSkipReason, testDatabaseUrl } from '../helpers/postgres.ts';
import { until } from '../helpers/wait.ts';

const root = path.join(import.meta.dirname, '..', '..');
const key = 'fault-test-key';
const graceMs = 300;

type Serve = { child: ChildProcess; url: string };

async function serve(dataDir: string, databaseUrl: string): Promise<Serve> {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'atelier.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--api-key', key, ...(databaseUrl ? ['--database-url', databaseUrl] : [])], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ATELIER_ORPHAN_GRACE_MS: String(graceMs), ATELIER_LOG_LEVEL: 'warn' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /listening on (\S+)/.exec(l);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`atelier serve exited with ${code}`)));
  });
  return { child, url };
}

async function kill9(s: Serve): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGKILL');
  await exited;
}

/** Every entry under <data-dir>/files, as "xx/name". */
async function blobEntries(dataDir: string): Promise<string[]> {
  const files = path.join(dataDir, 'files');
  const dirs = await readdir(files).catch(() => [] as string[]);
  return (await Promise.all(dirs.map(async (d) => (await readdir(path.join(files, d))).map((n) => `${d}/${n}`)))).flat();
}

/** Starts a 4 MB multipart upload, sends a quarter of it and keeps the connection open. */
async function startUpload(url: string): Promise<net.Socket> {
  const boundary = 'faultboundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`;
  const total = 4 * 1024 * 1024;
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined); // the server dies under it
  socket.write(`POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + total + 64}\r\n\r\n${head}`);
  socket.write(Buffer.alloc(total / 4, '{"a":1}\n'));
  return socket;
}

function suite(name: string, postgres: boolean, skip: string | false) {
  describe(`server killed mid-upload on ${name}`, { skip }, () => {
    it('leaves nothing behind after the restart and loses no file', async (t) => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-fault-'));
      const schema = postgres ? await createTestSchema() : null;
      const databaseUrl = schema ? `${testDatabaseUrl}?options=-c%20search_path%3D${schema.schema}` : '';
      let s = await serve(dataDir, databaseUrl);
      t.after(async () => {
        if (s.child.exitCode === null && s.child.signalCode === null) await kill9(s);
        await schema?.drop();
        await rm(dataDir, { recursive: true, force: true });
      });
      const mistral = new Mistral({ serverURL: s.url, apiKey: key });
      const kept = await mistral.files.upload({ file: { fileName: 'kept.jsonl', content: new Blob(['{"kept":true}\n']) } });
      const socket = await startUpload(s.url);
      const partial = await until(async () => (await blobEntries(dataDir)).filter((e) => e.includes('.tmp-')), (tmp) => tmp.length === 1, 'the partial upload on disk', 30_000);
      await until(async () => (await stat(path.join(dataDir, 'files', partial[0]))).size, (n) => n > 0, 'bytes in the partial upload', 30_000);
      await kill9(s);
      socket.destroy();
      assert.equal((await blobEntries(dataDir)).filter((e) => e.includes('.tmp-')).length, 1, 'the kill left the partial temp file');
      // Older than the grace period, so a PostgreSQL server may remove it too.
      await until(async () => Date.now() - (await stat(path.join(dataDir, 'files', partial[0]))).mtimeMs, (age) => age > graceMs, 'the temp file to pass the grace period', 10_000);

      s = await serve(dataDir, databaseUrl);
      const after = new Mistral({ serverURL: s.url, apiKey: key });
      const left = await blobEntries(dataDir);
      assert.deepEqual(left.filter((e) => e.includes('.tmp-')), [], 'no temp file survives the restart');
      const listed = await after.files.list({});
      assert.deepEqual(listed.data.map((f) => f.id), [kept.id], 'the file uploaded before the kill is still listed, and only it');
      assert.equal(left.length, 1, `one blob for one row: ${left.join(', ')}`);
      const bytes = await (await after.files.download({ fileId: kept.id })).getReader().read();
      assert.equal(Buffer.from(bytes.value ?? []).toString(), '{"kept":true}\n');
      await kill9(s);
    });
  });
}

suite('SQLite', false, false);
suite('PostgreSQL', true, (await pgSkipReason()) ?? false);
