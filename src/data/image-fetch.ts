/**
 * Fetching an image from an http(s) URL: the one place Atelier downloads images, for datasets and
 * chat alike, and only when the setting `imageUrlFetch` (ATELIER_IMAGE_URL_FETCH) is on: off by
 * default, since fetching arbitrary URLs from the server is an SSRF risk and a dataset that depends
 * on remote images does not reproduce. When on:
 * - the host name is resolved and EVERY address is checked: loopback, private (RFC 1918, fc00::/7),
 *   link-local (169.254/16 — cloud metadata —, fe80::/10), CGNAT, multicast, unspecified and
 *   reserved ranges are refused; the connection then goes to the checked address (no second DNS
 *   lookup an attacker could answer differently);
 * - redirects are not followed (a redirect could point inside the network);
 * - the whole request has a timeout (`imageFetchTimeoutMs`) and the body a size limit
 *   (`dataMaxImageBytes`), enforced while streaming.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';

export class ImageFetchError extends Error {}

export type ImageFetchOptions = {
  enabled: boolean;
  timeoutMs: number;
  maxBytes: number;
  /** Which resolved addresses may be contacted; the default refuses every non-public one. */
  isAllowedAddress?: (address: string) => boolean;
};

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b::', 96], ['100::', 64],
] as const) blocked.addSubnet(net, bits, 'ipv6');

/** True for a public unicast address (never loopback, private, link-local, CGNAT, multicast or reserved). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address); // IPv4-mapped IPv6: judge the IPv4 inside
  if (mapped?.[1]) return !blocked.check(mapped[1], 'ipv4');
  return !blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Resolves `host` and returns one address to connect to; throws when any address is not allowed. */
async function vettedAddress(host: string, allowed: (a: string) => boolean): Promise<{ address: string; family: number }> {
  const name = host.replace(/^\[|\]$/g, '');
  const all = isIP(name) ? [{ address: name, family: isIP(name) }] : await lookup(name, { all: true, verbatim: true }).catch((err: unknown) => {
    throw new ImageFetchError(`cannot resolve ${host}: ${err instanceof Error ? err.message : String(err)}`);
  });
  const bad = all.find((a) => !allowed(a.address));
  if (bad) throw new ImageFetchError(`${host} resolves to ${bad.address}, a private, loopback or link-local address; images are only fetched from public addresses`);
  const first = all[0];
  if (!first) throw new ImageFetchError(`${host} has no address`);
  return first;
}

/** Downloads the image at an http(s) URL within the options' limits; throws ImageFetchError with the reason. */
export async function fetchImageUrl(url: string, opts: ImageFetchOptions): Promise<Buffer> {
  if (!opts.enabled) throw new ImageFetchError('image URLs are not fetched (setting ATELIER_IMAGE_URL_FETCH is off); embed the image as a data:image/...;base64 URL');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ImageFetchError(`not a valid URL: ${url.slice(0, 80)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ImageFetchError(`only http and https image URLs are fetched, not ${u.protocol}`);
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const target = await vettedAddress(u.hostname, opts.isAllowedAddress ?? isPublicAddress);
  return download(u, target, opts.maxBytes, deadline, opts.timeoutMs);
}

function download(u: URL, target: { address: string; family: number }, maxBytes: number, signal: AbortSignal, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const get = u.protocol === 'https:' ? https.get : http.get;
    // `lookup` pins the connection to the vetted address; the Host header and TLS name stay the URL's.
    const req = get(u, { signal, lookup: (_h, _o, cb) => cb(null, target.address, target.family) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        res.resume();
        const where = status >= 300 && status < 400 ? ` (redirects are not followed; use the final URL)` : '';
        return reject(new ImageFetchError(`${u.host} answered HTTP ${status}${where}`));
      }
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (declared > maxBytes) {
        res.destroy();
        return reject(new ImageFetchError(`the image is ${declared} bytes, above the limit of ${maxBytes} bytes`));
      }
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          res.destroy();
          reject(new ImageFetchError(`the image is over the limit of ${maxBytes} bytes`));
        } else parts.push(chunk);
      });
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', (err) => reject(fetchFailure(err, u, timeoutMs)));
    });
    req.on('error', (err) => reject(fetchFailure(err, u, timeoutMs)));
  });
}

function fetchFailure(err: Error, u: URL, timeoutMs: number): ImageFetchError {
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return new ImageFetchError(`${u.host} did not send the image within ${timeoutMs} ms`);
  return new ImageFetchError(`fetching the image from ${u.host} failed: ${err.message}`);
}
