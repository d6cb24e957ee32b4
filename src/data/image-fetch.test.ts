/** The one image fetcher: off by default, public addresses only (after DNS), no redirects, timeout and size limit. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { fetchImageUrl, ImageFetchError, isPublicAddress } from './index.ts';
import { solidPng } from '../../test/helpers/draw-png.ts';

const png = solidPng(8, 8, [1, 2, 3]);
let base = '';
const server = http.createServer((req, res) => {
  if (req.url === '/cat.png') res.end(png);
  else if (req.url === '/big') res.end(Buffer.alloc(5000));
  else if (req.url === '/chunked-big') { res.write(Buffer.alloc(3000)); res.end(Buffer.alloc(3000)); }
  else if (req.url === '/redirect') res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
  else if (req.url === '/slow') setTimeout(() => res.end(png), 2000);
  else res.writeHead(404).end();
});
before(() => new Promise<void>((r) => server.listen(0, '127.0.0.1', () => { base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`; r(); })));
after(() => { server.closeAllConnections(); server.close(); });

// Tests reach the loopback server only through this explicit allowance; the default refuses it.
const loopbackOk = { enabled: true, timeoutMs: 500, maxBytes: 4096, isAllowedAddress: (a: string) => a === '127.0.0.1' };

test('off by default: nothing is fetched and the message names the setting', async () => {
  await assert.rejects(fetchImageUrl(`${base}/cat.png`, { enabled: false, timeoutMs: 500, maxBytes: 4096 }), /ATELIER_IMAGE_URL_FETCH is off/);
});

test('loopback, private and link-local addresses are refused, by name too (DNS is resolved and checked)', async () => {
  const on = { enabled: true, timeoutMs: 500, maxBytes: 4096 };
  for (const url of [`${base}/cat.png`, 'http://localhost/x.png', 'http://169.254.169.254/latest', 'http://10.1.2.3/a.png', 'http://[::1]/a.png', 'http://192.168.0.1/a.png']) {
    await assert.rejects(fetchImageUrl(url, on), (e: Error) => e instanceof ImageFetchError && /only fetched from public addresses/.test(e.message), url);
  }
  await assert.rejects(fetchImageUrl('file:///etc/passwd', on), /only http and https/);
  for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '224.0.0.1']) {
    assert.equal(isPublicAddress(a), false, a);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(isPublicAddress(a), true, a);
});

test('an allowed address is fetched whole', async () => {
  assert.ok((await fetchImageUrl(`${base}/cat.png`, loopbackOk)).equals(png));
});

test('the size limit holds for a declared and for a streamed body', async () => {
  await assert.rejects(fetchImageUrl(`${base}/big`, loopbackOk), /5000 bytes, above the limit of 4096/);
  await assert.rejects(fetchImageUrl(`${base}/chunked-big`, loopbackOk), /over the limit of 4096/);
});

test('redirects are not followed and a slow server times out', async () => {
  await assert.rejects(fetchImageUrl(`${base}/redirect`, loopbackOk), /HTTP 302 \(redirects are not followed/);
  await assert.rejects(fetchImageUrl(`${base}/slow`, loopbackOk), /did not send the image within 500 ms/);
  await assert.rejects(fetchImageUrl(`${base}/missing`, loopbackOk), /HTTP 404/);
});
