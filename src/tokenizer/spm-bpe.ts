/**
 * SentencePiece BPE encoding, the algorithm of sentencepiece's bpe_model.cc: the text is split into
 * characters (user-defined pieces matched longest-first and frozen), then the adjacent pair whose
 * concatenation is a vocabulary piece with the highest score is merged, leftmost first on ties,
 * until no pair merges; characters outside the vocabulary fall back to `<0xXX>` byte pieces.
 *
 * Speed: a per-word cache looked up in place (id-cache.ts); merges look up integer (left id, right
 * id) pairs in a typed-array hash; words of up to 48 symbols find the best pair by scanning the
 * symbol list, longer ones use a binary heap of candidate pairs (same order: score, then leftmost).
 * Words are cut before each run of `▁` that follows another character: no piece
 * of the Mistral vocabularies has `▁` after another character (checked at load), so no merge ever
 * crosses such a cut and encoding word by word gives the same ids as encoding the whole text.
 * A word the cache misses is cut further, between any two units no piece holds together
 * (`cutBigrams`), and its segments go through a second cache: on a long-tail dataset most missed
 * words are JSON, code, paths, numbers or CJK runs made of segments seen before (10 MB realistic
 * corpus: 3.4M missed characters, 0.66M of them in first-seen segments).
 */
import { IdCache } from './id-cache.ts';
import { PieceType, type SpmModel } from './sentencepiece-model.ts';

const SPACE = '\u2581';
const utf8 = new TextEncoder();
const WORD_CACHE_ENTRIES = 200_000;
const WORD_CACHE_IDS = 2_000_000;
/** Words up to this many symbols merge by scanning; longer ones use the heap (O(n log n)). */
const SCAN_MAX_SYMBOLS = 48;
/** Cache of the pieces a missed word is cut into (see `cutBigrams`); bounded like the word cache. */
const SEGMENT_CACHE_ENTRIES = 100_000;
const SEGMENT_CACHE_IDS = 1_000_000;


export type SpmSpecial = { id: number; piece: string };

export class SpmBpe {
  readonly pieceToId = new Map<string, number>();
  readonly scores: Float64Array;
  readonly byteIds = new Int32Array(256).fill(-1);
  readonly userDefined: string[] = [];
  readonly userDefinedFirst = new Set<number>();
  readonly unkId: number;
  readonly splitWords: boolean;
  readonly cache = new IdCache(WORD_CACHE_ENTRIES, WORD_CACHE_IDS);
  private readonly scratch: number[] = [];
  /** (left id * vocab size + right id) -> merged id; null when some piece holds a character outside the vocabulary. */
  private readonly pairs: PairTable | null;
  private readonly stride: number;
  /** Id of each single UTF-16 unit that is a piece (-1: none); avoids a slice + Map lookup per char. */
  private readonly charIds = new Int32Array(65536).fill(-1);
  /**
   * Every pair of adjacent UTF-16 units that occurs inside some piece. Between two characters whose
   * pair is not here no merge can ever happen (a merged symbol is a piece, and it would hold the
   * pair), so a word cuts there into segments that encode independently: BPE's best-first order
   * within each segment is unchanged. Long first-seen words (JSON, code, paths, CJK runs, numbers)
   * are mostly repeated segments, looked up in `segments` instead of merged.
   */
  private readonly cutBigrams = new BigramSet();
  private readonly segments = new IdCache(SEGMENT_CACHE_ENTRIES, SEGMENT_CACHE_IDS);

  // Scratch space reused across words (symbol linked list and pair heap).
  private symStart = new Int32Array(64);
  private symEnd = new Int32Array(64);
  private symPrev = new Int32Array(64);
  private symNext = new Int32Array(64);
  private symFrozen = new Uint8Array(64);
  private symId = new Int32Array(64);
  private pairScore = new Float64Array(64);
  private pairMerged = new Int32Array(64);
  private heapScore = new Float64Array(64);
  private heapLeft = new Int32Array(64);
  private heapRight = new Int32Array(64);
  private heapSize = new Int32Array(64);
  private heapId = new Int32Array(64);
  private heapLen = 0;
  private heapMerged = -1;

  /** `cutWords: false` merges every missed word whole (the reference the cut is tested against). */
  constructor(
    readonly model: SpmModel,
    private readonly cutWords = true,
  ) {
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
    for (const piece of this.pieceToId.keys()) {
      for (let k = 1; k < piece.length; k++) this.cutBigrams.add(piece.charCodeAt(k - 1), piece.charCodeAt(k));
    }
    for (const [piece, id] of this.pieceToId) if (piece.length === 1) this.charIds[piece.charCodeAt(0)] = id;
  }

  /**
   * Every way a piece splits into two pieces, as integer keys: merging by id avoids slicing and
   * hashing a string per candidate pair. Only valid when every character of every piece is itself a
   * piece (true for Mistral's files); otherwise merging falls back to string lookups.
   */
  private buildPairs(): PairTable | null {
    if (this.stride * this.stride >= 2 ** 31) return null;
    const pairs = new PairTable(this.pieceToId.size * 2);
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

  /**
   * Appends the ids of `text` (no BOS/EOS) to `out`. Words are found on the raw text (a space or
   * `▁` run after another character starts one) and looked up in the cache in place; only a
   * missed word is normalised (`▁` for spaces, the dummy prefix on the first) and merged.
   */
  encodeInto(text: string, out: number[]): void {
    const n = text.length;
    if (n === 0) return;
    if (!this.splitWords) {
      this.encodeWordInto((this.model.addDummyPrefix ? SPACE : '') + text.replaceAll(' ', SPACE), out);
      return;
    }
    let flag = this.model.addDummyPrefix ? 1 : 0;
    let start = 0;
    let c = text.charCodeAt(0);
    let prevSpace = c === 32 || c === 0x2581;
    // The word's cache hash (IdCache.hash) is folded into the scan for its end.
    let h = Math.imul((0x811c9dc5 ^ flag) ^ c, 0x01000193);
    for (let i = 1; i < n; i++) {
      c = text.charCodeAt(i);
      const sp = c === 32 || c === 0x2581;
      if (sp && !prevSpace) {
        this.cachedWordInto(text, start, i, flag, h >>> 0, out);
        start = i;
        flag = 0;
        h = 0x811c9dc5;
      }
      h = Math.imul(h ^ c, 0x01000193);
      prevSpace = sp;
    }
    this.cachedWordInto(text, start, n, flag, h >>> 0, out);
  }

  private cachedWordInto(text: string, start: number, end: number, flag: number, h: number, out: number[]): void {
    if (this.cache.pushIfCached(text, start, end, flag, h, out)) return;
    const ids = this.scratch;
    ids.length = 0;
    this.encodeWordInto((flag ? SPACE : '') + text.slice(start, end).replaceAll(' ', SPACE), ids);
    this.cache.set(text, start, end, flag, h, ids, 0, ids.length);
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
    this.pairScore = new Float64Array(size);
    this.pairMerged = new Int32Array(size);
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
      this.symId[n] = len === 1 ? (this.charIds[s.charCodeAt(i)] as number) : (this.pieceToId.get(s.slice(i, i + len)) ?? -1);
      this.symPrev[n] = n - 1;
      this.symNext[n] = n + 1;
      n++;
      i += len;
    }
    this.symNext[n - 1] = -1;
    return n;
  }

  /** Encodes a missed (normalised) word: cut where no merge can cross, each segment cached. */
  private encodeWordInto(s: string, out: number[]): void {
    if (!this.cutWords) {
      this.mergeWordInto(s, out);
      return;
    }
    let start = 0;
    for (let i = 1; i < s.length; i++) {
      if (!this.cutBigrams.isCut(s.charCodeAt(i - 1), s.charCodeAt(i))) continue;
      this.segmentInto(s, start, i, out);
      start = i;
    }
    if (start === 0) this.mergeWordInto(s, out);
    else this.segmentInto(s, start, s.length, out);
  }

  private segmentInto(s: string, start: number, end: number, out: number[]): void {
    if (end - start === 1) {
      const id = this.charIds[s.charCodeAt(start)] as number;
      if (id >= 0) out.push(id);
      else this.pushFallback(s[start] as string, out);
      return;
    }
    const h = IdCache.hash(s, start, end, 0);
    if (this.segments.pushIfCached(s, start, end, 0, h, out)) return;
    const from = out.length;
    this.mergeWordInto(s.slice(start, end), out);
    this.segments.set(s, start, end, 0, h, out, from, out.length);
  }

  private mergeWordInto(s: string, out: number[]): void {
    const n = this.splitSymbols(s);
    if (this.pairs !== null && n <= SCAN_MAX_SYMBOLS) {
      this.mergeByScan(n);
      this.emitSymbols(s, out);
      return;
    }
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
    this.emitSymbols(s, out);
  }

  /**
   * The same merge order as the heap (highest score, leftmost on ties) found by scanning the
   * symbols: for the short words that make up almost all text this beats heap upkeep. pairScore[i]
   * is the score of merging symbol i with its right neighbour (-Infinity when they do not merge).
   */
  private mergeByScan(n: number): void {
    const next = this.symNext;
    const prev = this.symPrev;
    const ids = this.symId;
    const score = this.pairScore;
    const merged = this.pairMerged;
    for (let i = 0; i < n - 1; i++) this.scorePair(i, i + 1);
    score[n - 1] = -Infinity;
    for (;;) {
      let best = -1;
      let bestScore = -Infinity;
      for (let i = 0; i >= 0; i = next[i] as number) {
        if ((score[i] as number) > bestScore) {
          bestScore = score[i] as number;
          best = i;
        }
      }
      if (best < 0) return;
      const right = next[best] as number;
      ids[best] = merged[best] as number;
      const nx = next[right] as number;
      next[best] = nx;
      if (nx >= 0) {
        prev[nx] = best;
        this.scorePair(best, nx);
      } else score[best] = -Infinity;
      const pv = prev[best] as number;
      if (pv >= 0) this.scorePair(pv, best);
    }
  }

  private scorePair(left: number, right: number): void {
    let m = -1;
    if (!this.symFrozen[left] && !this.symFrozen[right]) {
      const l = this.symId[left] as number;
      const r = this.symId[right] as number;
      if (l >= 0 && r >= 0) m = (this.pairs as PairTable).get(l * this.stride + r);
    }
    this.pairMerged[left] = m;
    this.pairScore[left] = m >= 0 ? (this.scores[m] as number) : -Infinity;
  }

  private emitSymbols(s: string, out: number[]): void {
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
    for (const b of utf8.encode(piece)) out.push(this.byteIds[b] as number);
  }

  private maybeAddPair(s: string, left: number, right: number): void {
    if (left < 0 || right < 0 || this.symFrozen[left] || this.symFrozen[right]) return;
    const start = this.symStart[left] as number;
    const end = this.symEnd[right] as number;
    let id: number | undefined;
    if (this.pairs) {
      const l = this.symId[left] as number;
      const r = this.symId[right] as number;
      if (l < 0 || r < 0) return;
      const m = this.pairs.get(l * this.stride + r);
      if (m < 0) return;
      id = m;
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

/** A set of (UTF-16 unit, UTF-16 unit) pairs; `isCut` is true for pairs not in it. */
class BigramSet {
  /** Units that start some pair: most cuts are decided without hashing. */
  private readonly first = new Uint8Array(65536);
  /** Pairs of two ASCII units, looked up directly (most text). */
  private readonly ascii = new Uint8Array(128 * 128);
  private keys = new Int32Array(1 << 12);
  private shift = 20;
  private count = 0;
  /** The one pair whose key would be 0, the empty mark. */
  private hasLast = false;

  add(a: number, b: number): void {
    this.first[a] = 1;
    if (a < 128 && b < 128) this.ascii[(a << 7) | b] = 1;
    if (this.count * 2 >= this.keys.length) this.grow();
    const key = ((a << 16) | b) + 1;
    if (key === 0) this.hasLast = true;
    else this.insert(key);
  }

  /** True when a word may be cut between a and b: the pair is in no piece and b is not the low half of a surrogate pair. */
  isCut(a: number, b: number): boolean {
    if (b >= 0xdc00 && b <= 0xdfff) return false;
    if (this.first[a] === 0) return true;
    if ((a | b) < 128) return this.ascii[(a << 7) | b] === 0;
    const key = ((a << 16) | b) + 1;
    if (key === 0) return !this.hasLast;
    const mask = this.keys.length - 1;
    for (let i = Math.imul(key, 0x9e3779b1) >>> this.shift; ; i = (i + 1) & mask) {
      const k = this.keys[i] as number;
      if (k === key) return false;
      if (k === 0) return true;
    }
  }

  /** Keys are the pair + 1, so 0 marks an empty slot. */
  private insert(key: number): void {
    const mask = this.keys.length - 1;
    let i = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (this.keys[i] !== 0 && this.keys[i] !== key) i = (i + 1) & mask;
    if (this.keys[i] === 0) this.count++;
    this.keys[i] = key;
  }

  private grow(): void {
    const old = this.keys;
    this.keys = new Int32Array(old.length * 2);
    this.shift -= 1;
    this.count = 0;
    for (const k of old) if (k !== 0) this.insert(k);
  }
}

/** Open-addressing hash from a non-negative int32 key to a non-negative int32 value (-1: absent). */
class PairTable {
  private readonly keys: Int32Array;
  private readonly values: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 1;
    while (size < capacity * 2) size *= 2;
    this.keys = new Int32Array(size).fill(-1);
    this.values = new Int32Array(size);
    this.mask = size - 1;
  }

  private slot(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> 0;
  }

  set(key: number, value: number): void {
    let i = this.slot(key) & this.mask;
    while (this.keys[i] !== -1 && this.keys[i] !== key) i = (i + 1) & this.mask;
    this.keys[i] = key;
    this.values[i] = value;
  }

  get(key: number): number {
    for (let i = this.slot(key) & this.mask; ; i = (i + 1) & this.mask) {
      const k = this.keys[i] as number;
      if (k === key) return this.values[i] as number;
      if (k === -1) return -1;
    }
  }
}
