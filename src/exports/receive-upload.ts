/**
 * Receives a multipart upload of one `file` part (streamed to a temporary file, never held in
 * memory) and its text fields. Past `maxBytes` the rest is drained and dropped, so the client gets
 * its 413 rather than a reset connection.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';

export class UploadTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`upload larger than ${maxBytes} bytes`);
  }
}

export type ReceivedUpload = { file: string | null; fields: Record<string, string>; cleanup(): Promise<void> };

class Limit extends Transform {
  bytes = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, this.bytes > this.max ? undefined : chunk);
  }
}

/** The uploaded `file` part in a temporary folder (removed by cleanup()) plus the form's fields. */
export async function receiveUpload(request: FastifyRequest, maxBytes: number): Promise<ReceivedUpload> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-upload-'));
  const out: ReceivedUpload = { file: null, fields: {}, cleanup: () => rm(dir, { recursive: true, force: true }) };
  let tooLarge = false;
  try {
    for await (const part of request.parts({ limits: { fileSize: maxBytes + 1, fields: 16, fieldSize: 64 * 1024 } })) {
      if (part.type === 'field') out.fields[part.fieldname] = String(part.value);
      else if (part.fieldname !== 'file' || out.file) await finished(part.file.resume());
      else {
        const limit = new Limit(maxBytes);
        out.file = path.join(dir, 'upload.tar');
        await pipeline(part.file, limit, createWriteStream(out.file));
        tooLarge = limit.bytes > maxBytes;
      }
    }
  } catch (err) {
    await out.cleanup();
    throw err;
  }
  if (tooLarge) {
    await out.cleanup();
    throw new UploadTooLargeError(maxBytes);
  }
  return out;
}
