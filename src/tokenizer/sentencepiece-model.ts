/**
 * Reads a SentencePiece `ModelProto` (the `tokenizer.model.v*` protobuf) without a protobuf
 * library: only the fields the BPE encoder needs (sentencepiece_model.proto field numbers).
 */

export const PieceType = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

export type SpmPiece = { piece: string; score: number; type: number };

export type SpmModel = {
  pieces: SpmPiece[];
  modelType: number; // 1 unigram, 2 bpe
  byteFallback: boolean;
  normalizerName: string;
  hasCharsMap: boolean;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
};

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
  ) {}

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated SentencePiece model (varint)');
      // Field values here stay below 2^53; multiplication avoids 32-bit overflow of <<.
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  }

  bytes(): Uint8Array {
    const n = this.varint();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const n = this.varint();
      this.pos += n;
    }
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }

  /** Calls fn(field, wire) for every field until the end of the buffer. */
  fields(fn: (field: number, wire: number) => void): void {
    while (this.pos < this.buf.length) {
      const tag = this.varint();
      fn(Math.floor(tag / 8), tag & 7);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function readPiece(buf: Uint8Array): SpmPiece {
  const r = new Reader(buf);
  const out: SpmPiece = { piece: '', score: 0, type: PieceType.normal };
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) out.piece = utf8.decode(r.bytes());
    else if (field === 2 && wire === 5) {
      out.score = r.view.getFloat32(r.pos, true);
      r.pos += 4;
    } else if (field === 3 && wire === 0) out.type = r.varint();
    else r.skip(wire);
  });
  return out;
}

/** Parses the protobuf bytes of a SentencePiece model; throws on a malformed file. */
export function parseSpmModel(buf: Uint8Array): SpmModel {
  const model: SpmModel = {
    pieces: [],
    modelType: 1,
    byteFallback: false,
    normalizerName: '',
    hasCharsMap: false,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  const r = new Reader(buf);
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) model.pieces.push(readPiece(r.bytes()));
    else if (field === 2 && wire === 2) readTrainerSpec(r.bytes(), model);
    else if (field === 3 && wire === 2) readNormalizerSpec(r.bytes(), model);
    else r.skip(wire);
  });
  if (model.pieces.length === 0) throw new Error('not a SentencePiece model: no pieces');
  return model;
}

function readTrainerSpec(buf: Uint8Array, model: SpmModel): void {
  const r = new Reader(buf);
  r.fields((field, wire) => {
    if (field === 3 && wire === 0) model.modelType = r.varint();
    else if (field === 35 && wire === 0) model.byteFallback = r.varint() !== 0;
    else r.skip(wire);
  });
}

function readNormalizerSpec(buf: Uint8Array, model: SpmModel): void {
  const r = new Reader(buf);
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) model.normalizerName = utf8.decode(r.bytes());
    else if (field === 2 && wire === 2) model.hasCharsMap = r.bytes().length > 0;
    else if (field === 3 && wire === 0) model.addDummyPrefix = r.varint() !== 0;
    else if (field === 4 && wire === 0) model.removeExtraWhitespaces = r.varint() !== 0;
    else if (field === 5 && wire === 0) model.escapeWhitespaces = r.varint() !== 0;
    else r.skip(wire);
  });
}
