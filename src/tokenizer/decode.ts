/** Turning ids back into text: whole-string decoding and a streaming decoder for serving. */
import type { TextBackend } from './backend.ts';

export type StreamDecoder = { push(id: number): string; flush(): string };

/**
 * A decoder that never splits a character: bytes of a character cut across tokens are held until
 * the character is complete (TextDecoder in streaming mode). Special tokens decode to nothing.
 */
export function createStreamDecoder(backend: TextBackend): StreamDecoder {
  const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  let atStart = backend.stripLeadingSpace;
  return {
    push(id: number): string {
      if (backend.isSpecial(id)) return '';
      let bytes = backend.tokenBytes(id);
      if (atStart && bytes.length > 0) {
        atStart = false;
        // SentencePiece drops the space it put in front of the text.
        if (bytes[0] === 0x20) bytes = bytes.subarray(1);
      }
      return utf8.decode(bytes, { stream: true });
    },
    flush(): string {
      return utf8.decode();
    },
  };
}

/** Decodes ids to text, skipping special tokens. */
export function decodeIds(backend: TextBackend, ids: readonly number[]): string {
  const d = createStreamDecoder(backend);
  let s = '';
  for (const id of ids) s += d.push(id);
  return s + d.flush();
}
