/**
 * tiktoken's byte-pair encoding (`CoreBPE::encode_ordinary`) in plain TypeScript: the text is cut
 * into pre-tokens with the file's pattern, a pre-token that is itself a token is that token, any
 * other is split into bytes and the adjacent pair whose concatenation has the lowest rank is merged,
 * leftmost on ties, until no pair is a token.
 *
 * Why not the `tiktoken` WASM package: every call copies the string into WASM and the ids back out,
 * which made it slower than Python's tiktoken on short texts. Here a pre-token is matched with a
 * sticky regex (no match string is built), looked up in place in the pre-token cache, and only a
 * missed pre-token is encoded to UTF-8 and merged, by integer (left rank, right rank) pairs.
 *
 * The pattern is Rust-regex syntax; JavaScript's `u` flag reads its `\p{..}` classes the same way,
 * but `\s` differs (JavaScript counts U+FEFF, Unicode's White_Space has U+0085 instead), so `\s`
 * and `\S` are rewritten to White_Space explicitly. A pattern JavaScript cannot compile (e.g. with
 * `(?i:...)`) makes `compileTekkenPattern` return null, and the caller uses the WASM core instead.
 */
import { IdCache } from './id-cache.ts';

const PIECE_CACHE_ENTRIES = 200_000;
const PIECE_CACHE_IDS = 2_000_000;
/** Unicode White_Space, as Rust's regex `\s` matches it. */
const WHITE_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** The pattern as a sticky, unicode JavaScript RegExp, or null when it cannot be expressed. */
export function compileTekkenPattern(pattern: string): RegExp | null {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') {
      const e = pattern[i + 1] ?? '';
      i++;
      if (e === 's') out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`;
      else if (e === 'S') {
        if (inClass) return null; // a negated set inside a class has no `u`-flag spelling
        out += `[^${WHITE_SPACE}]`;
      } else out += `\\${e}`;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    out += c;
  }
  try {
    return new RegExp(out, 'uy');
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err; // a construct the `u` flag rejects
    return null;
  }
}

export class TekkenBpe {
  /** Token bytes -> rank, keyed by the bytes themselves (no string per token or per lookup). */
  private readonly ranks: ByteTable;
  private readonly byteRank = new Int32Array(256).fill(-1);
  private readonly pairs: RankPairTable;
  private readonly cache = new IdCache(PIECE_CACHE_ENTRIES, PIECE_CACHE_IDS);
  private readonly chunkCache = new IdCache(PIECE_CACHE_ENTRIES, PIECE_CACHE_IDS);
  private readonly chunkIds: number[] = [];
  private readonly scan: RegExp;
  private readonly find: RegExp;
  private readonly encoder = new TextEncoder();
  private bytes = new Uint8Array(256);
  private partRank = new Int32Array(256);
  private pairRank = new Int32Array(256);
  private partNext = new Int32Array(256);
  private partPrev = new Int32Array(256);
  private readonly scratch: number[] = [];

  /**
   * `tokens[r]` are the bytes of rank r (latin1 string); `offset` is added to every rank on output.
   * `cutAfterAsciiWord`: the pattern always starts a pre-token at a space that follows an ASCII
   * letter or digit (true of Mistral's Tekken pattern), so text is first cut there into chunks whose
   * ids are cached whole, and a repeated chunk skips the regex.
   */
  constructor(
    tokens: readonly string[],
    regex: RegExp,
    private readonly offset: number,
    private readonly cutAfterAsciiWord = false,
  ) {
    this.ranks = new ByteTable(tokens);
    for (let r = 0; r < tokens.length; r++) {
      const t = tokens[r] as string;
      if (t.length === 1 && this.byteRank[t.charCodeAt(0)] === -1) this.byteRank[t.charCodeAt(0)] = r;
    }
    for (let b = 0; b < 256; b++) {
      if (this.byteRank[b] === -1) throw new Error(`tekken vocabulary has no token for byte ${b}`);
    }
    // Every part of a merge is a token, so merging looks up (left rank, right rank) -> rank.
    const found = this.ranks.splits();
    this.pairs = new RankPairTable(found.length / 3);
    for (let i = 0; i < found.length; i += 3) this.pairs.set(found[i] as number, found[i + 1] as number, found[i + 2] as number);
    this.scan = new RegExp(regex.source, 'uy');
    this.find = new RegExp(regex.source, 'ug');
  }

  /** Appends the ids (rank + offset) of `text` to `out`. */
  encodeInto(text: string, out: number[]): void {
    const n = text.length;
    if (!this.cutAfterAsciiWord) {
      this.piecesInto(text, 0, n, out, this.offset);
      return;
    }
    let start = 0;
    let prevWord = false;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === 32 && prevWord) {
        this.chunkInto(text, start, i, out);
        start = i;
      }
      prevWord = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    }
    if (start < n) this.chunkInto(text, start, n, out);
  }

  private chunkInto(text: string, start: number, end: number, out: number[]): void {
    const h = IdCache.hash(text, start, end, 0);
    if (this.chunkCache.pushIfCached(text, start, end, 0, h, out, this.offset)) return;
    const ids = this.chunkIds;
    ids.length = 0;
    this.piecesInto(text, start, end, ids, 0);
    this.chunkCache.set(text, start, end, 0, h, ids, 0, ids.length);
    for (let i = 0; i < ids.length; i++) out.push((ids[i] as number) + this.offset);
  }

  /** Pre-tokens of text[from, n) (matches may look ahead past n; they never start there). */
  private piecesInto(text: string, from: number, n: number, out: number[], offset: number): void {
    const scan = this.scan;
    let pos = from;
    while (pos < n) {
      scan.lastIndex = pos;
      let start = pos;
      if (!scan.test(text)) {
        // Text no alternative matches is skipped, as regex find_iter skips it.
        this.find.lastIndex = pos;
        const m = this.find.exec(text);
        if (m === null || m.index >= n) return;
        start = m.index;
        scan.lastIndex = start + m[0].length;
      }
      const end = scan.lastIndex;
      if (end === start) {
        pos = start + 1; // an empty match yields no token
        continue;
      }
      this.pieceInto(text, start, end, out, offset);
      pos = end;
    }
  }

  private pieceInto(text: string, start: number, end: number, out: number[], offset: number): void {
    const h = IdCache.hash(text, start, end, 0);
    if (this.cache.pushIfCached(text, start, end, 0, h, out, offset)) return;
    const ids = this.scratch;
    ids.length = 0;
    this.encodePiece(text.slice(start, end), ids);
    this.cache.set(text, start, end, 0, h, ids, 0, ids.length);
    for (let i = 0; i < ids.length; i++) out.push((ids[i] as number) + offset);
  }

  /** Ranks of one pre-token. */
  private encodePiece(piece: string, out: number[]): void {
    if (this.bytes.length < piece.length * 3) this.growParts(piece.length * 3);
    const bytes = this.bytes;
    let len = piece.length;
    let ascii = true;
    for (let i = 0; i < len; i++) {
      const c = piece.charCodeAt(i);
      if (c > 0x7f) {
        ascii = false;
        break;
      }
      bytes[i] = c;
    }
    if (!ascii) len = this.encoder.encodeInto(piece, bytes).written;
    const whole = this.ranks.find(bytes, 0, len);
    if (whole >= 0) {
      out.push(whole);
      return;
    }
    if (this.partRank.length < len) this.growParts(len);
    const rank = this.partRank;
    const pair = this.pairRank;
    const next = this.partNext;
    const prev = this.partPrev;
    for (let i = 0; i < len; i++) {
      rank[i] = this.byteRank[bytes[i] as number] as number;
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    next[len - 1] = -1;
    for (let i = 0; i < len - 1; i++) pair[i] = this.pairs.get(rank[i] as number, rank[i + 1] as number);
    pair[len - 1] = -1;
    // tiktoken's loop: the lowest-ranked adjacent pair, leftmost on ties, until none merges.
    for (;;) {
      let best = -1;
      let bestRank = 0x7fffffff;
      for (let i = 0; i >= 0; i = next[i] as number) {
        const p = pair[i] as number;
        if (p >= 0 && p < bestRank) {
          bestRank = p;
          best = i;
        }
      }
      if (best < 0) break;
      rank[best] = bestRank;
      const nx = next[next[best] as number] as number;
      next[best] = nx;
      if (nx >= 0) {
        prev[nx] = best;
        pair[best] = this.pairs.get(bestRank, rank[nx] as number);
      } else pair[best] = -1;
      const pv = prev[best] as number;
      if (pv >= 0) pair[pv] = this.pairs.get(rank[pv] as number, bestRank);
    }
    for (let i = 0; i >= 0; i = next[i] as number) out.push(rank[i] as number);
  }

  private growParts(n: number): void {
    const size = Math.max(n, this.partRank.length * 2);
    this.bytes = new Uint8Array(Math.max(size, this.bytes.length));
    this.partRank = new Int32Array(size);
    this.pairRank = new Int32Array(size);
    this.partNext = new Int32Array(size);
    this.partPrev = new Int32Array(size);
  }
}

/**
 * Token bytes -> rank: every token's bytes in one pool, an open-addressing table of ranks keyed by
 * an FNV-1a hash of the bytes. Building it and every (left, right) split of every token takes
 * ~0.1 s; the Map<string> of latin1 strings and the per-split slices it replaced took ~0.8 s and
 * ~40 MB more at load (the 131k-rank Nemo file).
 */
class ByteTable {
  private readonly pool: Uint8Array;
  private readonly starts: Int32Array;
  private readonly lengths: Int32Array;
  private readonly slots: Int32Array;
  private readonly mask: number;

  /** `tokens[r]`: the bytes of rank r as a latin1 string; the first rank of repeated bytes wins. */
  constructor(tokens: readonly string[]) {
    let total = 0;
    for (const t of tokens) total += t.length;
    this.pool = new Uint8Array(total);
    this.starts = new Int32Array(tokens.length);
    this.lengths = new Int32Array(tokens.length);
    let size = 1;
    while (size < tokens.length * 2) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    let at = 0;
    tokens.forEach((t, r) => {
      this.starts[r] = at;
      this.lengths[r] = t.length;
      for (let i = 0; i < t.length; i++) this.pool[at + i] = t.charCodeAt(i);
      at += t.length;
      if (this.find(this.pool, at - t.length, at) < 0) this.insert(r);
    });
  }

  static hash(b: Uint8Array, from: number, to: number): number {
    let h = 0x811c9dc5;
    for (let i = from; i < to; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
    return h >>> 0;
  }

  private insert(rank: number): void {
    const s = this.starts[rank] as number;
    let i = ByteTable.hash(this.pool, s, s + (this.lengths[rank] as number)) & this.mask;
    while (this.slots[i] !== -1) i = (i + 1) & this.mask;
    this.slots[i] = rank;
  }

  /** The rank of bytes b[from, to), or -1. */
  find(b: Uint8Array, from: number, to: number, h = ByteTable.hash(b, from, to)): number {
    const len = to - from;
    const pool = this.pool;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const r = this.slots[i] as number;
      if (r === -1) return -1;
      if (this.lengths[r] !== len) continue;
      const s = (this.starts[r] as number) - from;
      let k = from;
      while (k < to && pool[s + k] === b[k]) k++;
      if (k === to) return r;
    }
  }

  /** [left, right, rank] for every way a token splits into two tokens (flattened). */
  splits(): number[] {
    const found: number[] = [];
    const pool = this.pool;
    for (let r = 0; r < this.starts.length; r++) {
      const s = this.starts[r] as number;
      const e = s + (this.lengths[r] as number);
      if (e - s < 2 || this.find(pool, s, e) !== r) continue;
      let h = 0x811c9dc5;
      for (let k = s + 1; k < e; k++) {
        h = Math.imul(h ^ (pool[k - 1] as number), 0x01000193);
        const left = this.find(pool, s, k, h >>> 0);
        const right = left < 0 ? -1 : this.find(pool, k, e);
        if (right >= 0) found.push(left, right, r);
      }
    }
    return found;
  }
}

/** Open-addressing hash from a (left, right) pair of non-negative int32s to an int32 (-1: absent). */
class RankPairTable {
  private readonly lefts: Int32Array;
  private readonly rights: Int32Array;
  private readonly values: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 1;
    while (size < capacity * 2) size *= 2;
    this.lefts = new Int32Array(size).fill(-1);
    this.rights = new Int32Array(size);
    this.values = new Int32Array(size);
    this.mask = size - 1;
  }

  private slot(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) & this.mask;
  }

  set(a: number, b: number, value: number): void {
    let i = this.slot(a, b);
    while (this.lefts[i] !== -1 && !(this.lefts[i] === a && this.rights[i] === b)) i = (i + 1) & this.mask;
    this.lefts[i] = a;
    this.rights[i] = b;
    this.values[i] = value;
  }

  get(a: number, b: number): number {
    for (let i = this.slot(a, b); ; i = (i + 1) & this.mask) {
      const l = this.lefts[i] as number;
      if (l === a && this.rights[i] === b) return this.values[i] as number;
      if (l === -1) return -1;
    }
  }
}
