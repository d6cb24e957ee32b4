/**
 * Proof (4) of test/e2e/export.test.ts: a GGUF's tokenizer (run by llama.cpp through
 * node-llama-cpp) against Atelier's on the random conversations of the tokenizer parity corpus.
 */
import assert from 'node:assert/strict';
import type { LlamaModel } from 'node-llama-cpp';
import type { Tokenizer } from '../../src/tokenizer/index.ts';
import { makeConversations } from './random-conversations.ts';

/**
 * (4) Each conversation's ids: control tokens by their text, text runs re-encoded by llama.cpp.
 * Runs holding a SentencePiece user-defined symbol ([REFERENCE_DOC_n] typed as text) are the one
 * known difference: llama.cpp keeps the symbol whole but puts the `▁` space pieces next to it
 * differently (its SPM tokenizer treats the symbol like a special token); for those the symbols
 * must come out whole and in order. The first `count` conversations the tokenizer can encode are
 * used. Returns [exact runs, runs with a user-defined symbol].
 */
export async function checkTokenizer(model: LlamaModel, tok: Tokenizer, count = 200): Promise<[number, number]> {
  const backend = tok.backend;
  const userDefined = (id: number) => model.getTokenAttributes(id as never).userDefined;
  let exact = 0;
  let loose = 0;
  let done = 0;
  for (const line of makeConversations(count * 4, 20260203)) {
    if (done === count) break;
    const ids = encodable(tok, line);
    if (!ids) continue;
    done++;
    for (let i = 0; i < ids.length;) {
      const id = ids[i] as number;
      if (backend.isSpecial(id)) {
        assert.deepEqual(model.tokenize(backend.specialName(id) ?? '', true).map(Number), [id], `control token ${backend.specialName(id)}`);
        i++;
        continue;
      }
      let j = i;
      while (j < ids.length && !backend.isSpecial(ids[j] as number)) j++;
      const run = ids.slice(i, j);
      const text = tok.decode(run);
      const got = model.tokenize(text, false).map(Number);
      if (run.some(userDefined)) {
        assert.deepEqual(got.filter(userDefined), run.filter(userDefined), `user-defined symbols kept whole in ${JSON.stringify(text)}`);
        loose++;
      } else {
        assert.deepEqual(got, run, `text ${JSON.stringify(text)} in ${line.slice(0, 200)}`);
        exact++;
      }
      i = j;
    }
  }
  assert.equal(done, count, 'enough conversations this tokenizer version can encode');
  return [exact, loose];
}

/** The conversation's ids, or null when this tokenizer version cannot encode it (e.g. content and tool calls in one turn before v7). */
function encodable(tok: Tokenizer, line: string): number[] | null {
  try {
    return tok.encodeLine(line, { mode: 'train' }).tokens;
  } catch {
    return null;
  }
}

