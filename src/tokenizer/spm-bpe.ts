/**
 * SentencePiece BPE encoding, the algorithm of sentencepiece's bpe_model.cc: the text is split into
 * characters (user-defined pieces matched longest-first and frozen), then the adjacent pair whose
 * concatenation is a vocabulary piece with the highest score is merged, leftmost first on ties,
 * until no pair merges; characters outside the vocabulary fall back to `<0xXX>` byte pieces.
 *
 * Speed: a binary heap of candidate pairs over a linked list of symbols in reused typed arrays, and
 * a per-word cache. Words are cut before each run of `▁` that follows another character: no piece
 * of the Mistral vocabularies has `▁` after another character (checked at load), so no merge ever
 * crosses such a cut and encoding word by word gives the same ids as encoding the whole text.
 */
import { PieceType, type SpmModel } from './sentencepiece-model.ts';

const SPACE = '\u2581';
const WORD_CACHE_LIMIT = 200_000;

export type SpmSpecial = { id: number; piece: string };

export class SpmBpe {
  readonly pieceToId = new Map<string, number>();
  readonly scores: Float64Array;
  readonly byteIds = new Int32Array(256).fill(-1);
  readonly userDefined: string[] = [];
  readonly userDefinedFirst = new Set<number>();
  readonly unkId: number;
  readonly splitWords: boolean;
  readonly cache = new Map<string, number[]>();
  /** (left id * vocab size + right id) -> merged id; null when some piece holds a character outside the vocabulary. */
  private readonly pairs: Map<number, number> | null;
  private readonly stride: number;

  // Scratch space reused across words (symbol linked list and pair heap).
  private symStart = new Int32Array(64);
  private symEnd = new Int32Array(64);
  private symPrev = new Int32Array(64);
  private symNext = new Int32Array(64);
  private symFrozen = new Uint8Array(64);
  private symId = new Int32Array(64);
  private heapScore = new Float64Array(64);
  private heapLeft = new Int32Array(64);
  private heapRight = new Int32Array(64);
  private heapSize = new Int32Array(64);
  private heapId = new Int32Array(64);
  private heapLen = 0;
  private heapMerged = -1;

  constructor(readonly model: SpmModel) {
    if (model.modelType !== 2) throw new Error(`SentencePiece model type ${model.modelType} is not BPE`);
    if (model.hasCharsMap || (model.normalizerName !== 'identity' && model.normalizerName !== '')) {
      throw new Error(`SentencePiece normalizer '${model.normalizerName}' is not supported (only identity)`);
    }
    if (model.removeExtraWhitespaces || !model.escapeWhitespaces) {
      throw new Error('SentencePiece models that collapse or keep raw whitespace are not supported');
    }
    this.scores = new Float64Array(model.pieces.length);
    let unk = 0;
    let crossing = false;
    model.pieces.forEach((p, id) => {
      this.scores[id] = p.score;
      if (p.type === PieceType.unused) throw new Error('SentencePiece models with unused pieces are not supported');
      if (p.type === PieceType.normal || p.type === PieceType.userDefined) {
        this.pieceToId.set(p.piece, id);
        if (/[^\u2581]\u2581/.test(p.piece)) crossing = true;
      }
      if (p.type === PieceType.userDefined) {
        this.userDefined.push(p.piece);
        this.userDefinedFirst.add(p.piece.charCodeAt(0));
      }
      if (p.type === PieceType.unknown) unk = id;
      if (p.type === PieceType.byte) {
        const m = /^<0x([0-9A-F]{2})>$/.exec(p.piece);
        if (m) this.byteIds[parseInt(m[1] as string, 16)] = id;
      }
    });
    // Longest first, so the first match found is the longest (sentencepiece's PrefixMatcher).
    this.userDefined.sort((a, b) => b.length - a.length);
    this.unkId = unk;
    this.splitWords = !crossing;
    this.stride = model.pieces.length;
    this.pairs = this.buildPairs();
  }

  /**
   * Every way a piece splits into two pieces, as integer keys: merging by id avoids slicing and
   * hashing a string per candidate pair. Only valid when every character of every piece is itself a
   * piece (true for Mistral's files); otherwise merging falls back to string lookups.
   */
  private buildPairs(): Map<number, number> | null {
    if (this.stride * this.stride > 2 ** 52) return null;
    const pairs = new Map<number, number>();
    for (const [piece, id] of this.pieceToId) {
      for (const ch of piece) if (!this.pieceToId.has(ch)) return null;
      for (let k = 1; k < piece.length; k++) {
        const c = piece.charCodeAt(k);
        if (c >= 0xdc00 && c <= 0xdfff) continue; // never split a surrogate pair
        const l = this.pieceToId.get(piece.slice(0, k));
        const r = this.pieceToId.get(piece.slice(k));
        if (l !== undefined && r !== undefined) pairs.set(l * this.stride + r, id);
      }
    }
    return pairs;
  }

  /** Appends the ids of `text` (no BOS/EOS) to `out`. */
  encodeInto(text: string, out: number[]): void {
    if (text.length === 0) return;
    const norm = (this.model.addDummyPrefix ? SPACE : '') + text.replaceAll(' ', SPACE);
    if (!this.splitWords) {
      this.encodeWordInto(norm, out);
      return;
    }
    let start = 0;
    for (let i = 1; i < norm.length; i++) {
      if (norm.charCodeAt(i) === 0x2581 && norm.charCodeAt(i - 1) !== 0x2581) {
        this.cachedWordInto(norm.slice(start, i), out);
        start = i;
      }
    }
    this.cachedWordInto(norm.slice(start), out);
  }

  private cachedWordInto(word: string, out: number[]): void {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = [];
      this.encodeWordInto(word, ids);
      if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i] as number);
  }

  private ensureSymbols(n: number): void {
    if (this.symStart.length >= n) return;
    const size = Math.max(n, this.symStart.length * 2);
    this.symStart = new Int32Array(size);
    this.symEnd = new Int32Array(size);
    this.symPrev = new Int32Array(size);
    this.symNext = new Int32Array(size);
    this.symFrozen = new Uint8Array(size);
    this.symId = new Int32Array(size);
  }

  private matchUserDefined(s: string, at: number): number {
    if (!this.userDefinedFirst.has(s.charCodeAt(at))) return 0;
    for (const p of this.userDefined) if (s.startsWith(p, at)) return p.length;
    return 0;
  }

  /** Splits into initial symbols; returns their count. */
  private splitSymbols(s: string): number {
    this.ensureSymbols(s.length + 1);
    let n = 0;
    let i = 0;
    while (i < s.length) {
      let len = this.userDefined.length ? this.matchUserDefined(s, i) : 0;
      this.symFrozen[n] = len > 0 ? 1 : 0;
      if (len === 0) {
        const c = s.charCodeAt(i);
        len = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
      }
      this.symStart[n] = i;
      this.symEnd[n] = i + len;
      this.symId[n] = this.pieceToId.get(s.slice(i, i + len)) ?? -1;
      this.symPrev[n] = n - 1;
      this.symNext[n] = n + 1;
      n++;
      i += len;
    }
    this.symNext[n - 1] = -1;
    return n;
  }

  private encodeWordInto(s: string, out: number[]): void {
    const n = this.splitSymbols(s);
    this.heapLen = 0;
    for (let i = 1; i < n; i++) this.maybeAddPair(s, i - 1, i);
    while (this.heapLen > 0) {
      const left = this.heapLeft[0] as number;
      const right = this.heapRight[0] as number;
      const size = this.heapSize[0] as number;
      this.heapMerged = this.heapId[0] as number;
      this.heapPop();
      const ls = this.symStart[left] as number;
      const le = this.symEnd[left] as number;
      const rs = this.symStart[right] as number;
      const re = this.symEnd[right] as number;
      if (le === ls || re === rs || le - ls + (re - rs) !== size) continue;
      this.symEnd[left] = ls + size;
      this.symId[left] = this.heapMerged;
      const nx = this.symNext[right] as number;
      this.symNext[left] = nx;
      if (nx >= 0) this.symPrev[nx] = left;
      this.symEnd[right] = rs; // emptied
      this.maybeAddPair(s, this.symPrev[left] as number, left);
      this.maybeAddPair(s, left, nx);
    }
    for (let i = 0; i >= 0; i = this.symNext[i] as number) {
      const id = this.symId[i] as number;
      if (id >= 0) out.push(id);
      else this.pushFallback(s.slice(this.symStart[i], this.symEnd[i]), out);
    }
  }

  private pushFallback(piece: string, out: number[]): void {
    if (!this.model.byteFallback) {
      out.push(this.unkId);
      return;
    }
    for (const b of new TextEncoder().encode(piece)) out.push(this.byteIds[b] as number);
  }

  private maybeAddPair(s: string, left: number, right: number): void {
    if (left < 0 || right < 0 || this.symFrozen[left] || this.symFrozen[right]) return;
    const start = this.symStart[left] as number;
    const end = this.symEnd[right] as number;
    let id: number | undefined;
    if (this.pairs) {
      const l = this.symId[left] as number;
      const r = this.symId[right] as number;
      id = l >= 0 && r >= 0 ? this.pairs.get(l * this.stride + r) : undefined;
    } else id = this.pieceToId.get(s.slice(start, end));
    if (id === undefined) return;
    this.heapPush(this.scores[id] as number, left, right, end - start, id);
  }

  /** True when entry a ranks before entry b: higher score, then smaller left index. */
  private before(a: number, b: number): boolean {
    const sa = this.heapScore[a] as number;
    const sb = this.heapScore[b] as number;
    return sa > sb || (sa === sb && (this.heapLeft[a] as number) < (this.heapLeft[b] as number));
  }

  private heapPush(score: number, left: number, right: number, size: number, id: number): void {
    if (this.heapLen === this.heapScore.length) this.growHeap();
    let i = this.heapLen++;
    this.setEntry(i, score, left, right, size, id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private heapPop(): void {
    const last = --this.heapLen;
    if (last === 0) return;
    this.swap(0, last);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const c = r < last && this.before(r, l) ? r : l;
      if (!this.before(c, i)) break;
      this.swap(c, i);
      i = c;
    }
  }

  private setEntry(i: number, score: number, left: number, right: number, size: number, id: number): void {
    this.heapId[i] = id;
    this.heapScore[i] = score;
    this.heapLeft[i] = left;
    this.heapRight[i] = right;
    this.heapSize[i] = size;
  }

  private swap(a: number, b: number): void {
    const s = this.heapScore[a] as number;
    const l = this.heapLeft[a] as number;
    const r = this.heapRight[a] as number;
    const z = this.heapSize[a] as number;
    const id = this.heapId[a] as number;
    this.setEntry(a, this.heapScore[b] as number, this.heapLeft[b] as number, this.heapRight[b] as number, this.heapSize[b] as number, this.heapId[b] as number);
    this.setEntry(b, s, l, r, z, id);
  }

  private growHeap(): void {
    const size = this.heapScore.length * 2;
    const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.heapScore = grow(this.heapScore, (n) => new Float64Array(n));
    this.heapLeft = grow(this.heapLeft, (n) => new Int32Array(n));
    this.heapRight = grow(this.heapRight, (n) => new Int32Array(n));
    this.heapSize = grow(this.heapSize, (n) => new Int32Array(n));
    this.heapId = grow(this.heapId, (n) => new Int32Array(n));
  }
}
