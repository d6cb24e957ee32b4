// The console's HTTP side, without a browser: `/` and `/assets/*` are public and safe (no way out of
// the build folder, security headers), a missing build gets a page saying how to build it, and the
// API behind it keeps asking for a key.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { consoleDistDir, notBuiltPage, readConsoleAsset, readConsoleIndex } from '../../src/api/console-assets.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('console assets', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-console-'));
    await mkdir(path.join(dir, 'assets'));
    await writeFile(path.join(dir, 'assets', 'index-Ab12_c.js'), 'console.log(1)');
    await writeFile(path.join(dir, 'secret.js'), 'nope');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads a built asset with its content type and refuses names that could leave the folder', async () => {
    assert.deepEqual(await readConsoleAsset('index-Ab12_c.js', dir), { body: Buffer.from('console.log(1)'), contentType: 'text/javascript; charset=utf-8' });
    for (const name of ['../secret.js', '..', 'a/b.js', '%2e%2e/secret.js', '.js', 'index.exe', 'x.js\0']) assert.equal(await readConsoleAsset(name, dir), null, name);
    assert.equal(await readConsoleAsset('missing-1.css', dir), null);
  });

  it('has no index page when the build output is missing', async () => {
    assert.equal(await readConsoleIndex(dir), null);
  });
});

describe('console routes', () => {
  let server: TestServer;
  before(async () => (server = await startTestServer()));
  after(() => server.close());

  it('serves the console (or the how-to-build page) at / without a key, with security headers', async () => {
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await res.text();
    const built = await readConsoleIndex(consoleDistDir);
    assert.equal(html, built ? built.toString() : notBuiltPage);
    if (!built) assert.match(html, /npm run setup/);
  });

  it('answers 404 for an asset outside the build folder and keeps the API behind its key', async () => {
    for (const p of ['/assets/..%2F..%2Fpackage.json', '/assets/%2e%2e%2fvite.config.ts', '/assets/nope-123.js']) {
      const res = await fetch(`${server.url}${p}`);
      assert.equal(res.status, 404, p);
      assert.equal(((await res.json()) as { code: string }).code, 'route_not_found');
    }
    assert.equal((await fetch(`${server.url}/v1/models`)).status, 401);
  });
});
