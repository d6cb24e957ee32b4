/**
 * A bounded cache from a stretch of text (a word or pre-token) to its token ids, looked up by
 * position in the text being encoded: the hash is computed over the char codes in place and the
 * ids live in one Int32Array pool, so a hit allocates nothing (no slice, no Map key, no array).
 * Profiling showed the slice + Map<string> lookup + per-word arrays of the old cache dominating
 * warm encoding. Keys are copied into a char pool too, so no cached key keeps a long line alive
 * (a sliced string would). Memory is fixed by the limits: when full it is cleared and refills.
 */
const EMPTY = -1;

export class IdCache {
  private chars: Uint16Array;
  private charsUsed = 0;
  private keyStarts = new Int32Array(0);
  private keyLengths = new Int32Array(0);
  private flags = new Uint8Array(0);
  private offsets = new Int32Array(0);
  private lengths = new Int32Array(0);
  private pool: Int32Array;
  private poolUsed = 0;
  private table: Int32Array;
  private readonly mask: number;
  private count = 0;

  /** maxIds bounds both the pooled ids and the pooled key chars. */
  constructor(
    private readonly maxEntries: number,
    private readonly maxIds: number,
  ) {
    let size = 1;
    while (size < maxEntries * 2) size *= 2;
    this.table = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    this.keyStarts = new Int32Array(maxEntries);
    this.keyLengths = new Int32Array(maxEntries);
    this.chars = new Uint16Array(maxIds);
    this.flags = new Uint8Array(maxEntries);
    this.offsets = new Int32Array(maxEntries);
    this.lengths = new Int32Array(maxEntries);
    this.pool = new Int32Array(Math.min(maxIds, 1 << 16));
  }

  get size(): number {
    return this.count;
  }

  /** FNV-1a over text[start, end) and the flag. */
  static hash(text: string, start: number, end: number, flag: number): number {
    let h = 0x811c9dc5 ^ flag;
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h >>> 0;
  }

  /** Appends the cached ids of text[start, end) (with `flag`, e.g. "gets the dummy prefix") to `out`; false on a miss. */
  pushIfCached(text: string, start: number, end: number, flag: number, hash: number, out: number[], offset = 0): boolean {
    const len = end - start;
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const e = this.table[slot] as number;
      if (e === EMPTY) return false;
      if (this.keyLengths[e] !== len || this.flags[e] !== flag) continue;
      const chars = this.chars;
      const at = (this.keyStarts[e] as number) - start;
      let same = true;
      for (let i = start; i < end; i++) {
        if (chars[at + i] !== text.charCodeAt(i)) {
          same = false;
          break;
        }
      }
      if (!same) continue;
      const from = this.offsets[e] as number;
      const to = from + (this.lengths[e] as number);
      const pool = this.pool;
      for (let k = from; k < to; k++) out.push((pool[k] as number) + offset);
      return true;
    }
  }

  /** Stores ids[from, to) for text[start, end) with `flag`. */
  set(text: string, start: number, end: number, flag: number, hash: number, ids: ArrayLike<number>, from: number, to: number): void {
    const n = to - from;
    const len = end - start;
    if (n > this.maxIds || len > this.chars.length) return;
    if (this.count >= this.maxEntries || this.poolUsed + n > this.maxIds || this.charsUsed + len > this.chars.length) this.clear();
    if (this.poolUsed + n > this.pool.length) {
      let size = this.pool.length * 2;
      while (size < this.poolUsed + n) size *= 2;
      const grown = new Int32Array(Math.min(size, this.maxIds));
      grown.set(this.pool.subarray(0, this.poolUsed));
      this.pool = grown;
    }
    const e = this.count++;
    this.keyStarts[e] = this.charsUsed;
    this.keyLengths[e] = len;
    for (let i = 0; i < len; i++) this.chars[this.charsUsed + i] = text.charCodeAt(start + i);
    this.charsUsed += len;
    this.flags[e] = flag;
    this.offsets[e] = this.poolUsed;
    this.lengths[e] = n;
    for (let k = 0; k < n; k++) this.pool[this.poolUsed + k] = ids[from + k] as number;
    this.poolUsed += n;
    let slot = hash & this.mask;
    while (this.table[slot] !== EMPTY) slot = (slot + 1) & this.mask;
    this.table[slot] = e;
  }

  clear(): void {
    this.table.fill(EMPTY);
    this.count = 0;
    this.charsUsed = 0;
    this.poolUsed = 0;
  }
}
