/**
 * Which vocabulary tokens keep a constrained output valid: a trie of every token's text is walked
 * from the current grammar state, pruning a subtree at its first rejected character, so each step
 * touches only the prefixes that can still match. Masks are cached per grammar state (inside a long
 * string the state repeats at every step).
 */
import { canEnd, feedChar, stateKey, type JsonState } from './json-grammar.ts';

type TrieNode = { ids: number[]; next: Map<string, TrieNode> };

export type VocabTrie = { root: TrieNode; size: number };

/** A mask as sent to the engine: the shorter of the allowed list and its complement. */
export type TokenMask = { allow: number[] } | { deny: number[] };

/** Builds the trie from each token's text (null for control tokens, which are never allowed). */
export function buildVocabTrie(texts: readonly (string | null)[]): VocabTrie {
  const root: TrieNode = { ids: [], next: new Map() };
  texts.forEach((text, id) => {
    if (!text) return;
    let node = root;
    for (const ch of text) {
      let child = node.next.get(ch);
      if (!child) {
        child = { ids: [], next: new Map() };
        node.next.set(ch, child);
      }
      node = child;
    }
    node.ids.push(id);
  });
  return { root, size: texts.length };
}

function collect(node: TrieNode, state: JsonState, out: number[]): void {
  for (const [ch, child] of node.next) {
    const next = feedChar(state, ch);
    if (!next) continue;
    for (const id of child.ids) out.push(id);
    collect(child, next, out);
  }
}

/** Computes (and caches) the tokens allowed after `state`; `endIds` are allowed once complete. */
export function createMasker(trie: VocabTrie, endIds: readonly number[], cacheSize = 256) {
  const cache = new Map<string, TokenMask>();
  return function maskFor(state: JsonState): TokenMask {
    const key = stateKey(state);
    const hit = cache.get(key);
    if (hit) return hit;
    const allowed: number[] = [];
    collect(trie.root, state, allowed);
    if (canEnd(state)) allowed.push(...endIds);
    const mask = toMask(allowed, trie.size);
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
    cache.set(key, mask);
    return mask;
  };
}

function toMask(allowed: number[], size: number): TokenMask {
  if (allowed.length * 2 <= size) return { allow: allowed };
  const set = new Set(allowed);
  const deny: number[] = [];
  for (let id = 0; id < size; id++) if (!set.has(id)) deny.push(id);
  return { deny };
}
