/** The SentencePiece text tokenizer behind `tokenizer.model.v*` files. */
import type { ImageSettings, TextBackend } from './backend.ts';
import { PieceType, parseSpmModel } from './sentencepiece-model.ts';
import { SpmBpe } from './spm-bpe.ts';

const encoder = new TextEncoder();

export class SpmBackend implements TextBackend {
  readonly kind = 'spm' as const;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly stripLeadingSpace: boolean;
  private readonly bpe: SpmBpe;
  private readonly special = new Map<string, number>();
  private readonly specialIds = new Map<number, string>();
  private readonly bytesCache: (Uint8Array | undefined)[];

  constructor(
    buf: Uint8Array,
    readonly image: ImageSettings | null,
  ) {
    const model = parseSpmModel(buf);
    this.bpe = new SpmBpe(model);
    this.vocabSize = model.pieces.length;
    this.bytesCache = new Array(this.vocabSize);
    model.pieces.forEach((p, id) => {
      if (p.type === PieceType.control || p.type === PieceType.unknown) {
        this.special.set(p.piece, id);
        this.specialIds.set(id, p.piece);
      }
    });
    this.bosId = this.requireSpecial('<s>');
    this.eosId = this.requireSpecial('</s>');
    this.stripLeadingSpace = model.addDummyPrefix;
  }

  private requireSpecial(name: string): number {
    const id = this.special.get(name);
    if (id === undefined) throw new Error(`SentencePiece model has no ${name} control piece`);
    return id;
  }

  encodeInto(text: string, out: number[]): void {
    this.bpe.encodeInto(text, out);
  }

  specialId(name: string): number | undefined {
    return this.special.get(name);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  specialName(id: number): string | undefined {
    return this.specialIds.get(id);
  }

  tokenBytes(id: number): Uint8Array {
    let b = this.bytesCache[id];
    if (b === undefined) {
      const p = this.bpe.model.pieces[id];
      if (p === undefined || this.isSpecial(id)) b = new Uint8Array(0);
      else if (p.type === PieceType.byte) b = Uint8Array.of(parseInt(p.piece.slice(3, 5), 16));
      else b = encoder.encode(p.piece.replaceAll('\u2581', ' '));
      this.bytesCache[id] = b;
    }
    return b;
  }
}
