/**
 * Signed, time-limited download URLs: an HMAC-SHA256 over workspace, file id and expiry time with
 * a secret from the settings or the data dir. Anyone holding the URL can download until it
 * expires; changing any part of it breaks the signature.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignedParams = { workspace: string; expires: number; signature: string };

export class UrlSigner {
  constructor(private readonly secret: string) {}

  #mac(workspace: string, fileId: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${workspace}\n${fileId}\n${expires}`).digest('base64url');
  }

  /** Query parameters that grant access to one file until `expires` (Unix seconds). */
  sign(workspace: string, fileId: string, expires: number): SignedParams {
    return { workspace, expires, signature: this.#mac(workspace, fileId, expires) };
  }

  /** 'ok', 'invalid' (tampered) or 'expired' (checked after the signature, so an expiry cannot be forged). */
  verify(fileId: string, p: SignedParams, nowSeconds = Math.floor(Date.now() / 1000)): 'ok' | 'invalid' | 'expired' {
    const expected = Buffer.from(this.#mac(p.workspace, fileId, p.expires));
    const given = Buffer.from(p.signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return p.expires < nowSeconds ? 'expired' : 'ok';
  }
}
