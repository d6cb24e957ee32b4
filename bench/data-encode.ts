/**
 * Child of bench/data.ts: the tokenizer alone, on a first pass (a fresh process, cold caches), over
 * every message text of a corpus file; prints one JSON object. Also times, over the same lines, the
 * two JSON parsers the data path uses (JSON.parse for validation, loadsPy for `data tokenize`), so
 * the parse and the BPE can be told apart.
 *   node --import tsx bench/data-encode.ts TOKENIZER FILE
 */
import { readFileSync } from 'node:fs';
import { loadTokenizer } from '../src/tokenizer/index.ts';
import { loadsPy } from '../src/tokenizer/py-json.ts';

type Sample = { messages?: { content?: unknown }[] };

function cpuTimed(fn: () => void): { seconds: number; cpu_seconds: number } {
  const t = performance.now();
  const c = process.cpuUsage();
  fn();
  const u = process.cpuUsage(c);
  return { seconds: (performance.now() - t) / 1000, cpu_seconds: (u.user + u.system) / 1e6 };
}

/** The string contents of every message of every line that parses (bench/data_encode_ref.py reads the same). */
export function messageTexts(lines: string[]): string[] {
  const texts: string[] = [];
  for (const line of lines) {
    let s: Sample;
    try {
      s = JSON.parse(line) as Sample;
    } catch {
      continue;
    }
    for (const m of Array.isArray(s.messages) ? s.messages : []) if (typeof m?.content === 'string' && m.content) texts.push(m.content);
  }
  return texts;
}

const [tokFile, dataFile] = process.argv.slice(2) as [string, string];
const lines = readFileSync(dataFile, 'utf8').split('\n').filter((l) => l);
const texts = messageTexts(lines);
const tok = await loadTokenizer(tokFile);
let tokens = 0;
const encode = cpuTimed(() => {
  for (const t of texts) tokens += tok.encodeText(t).length;
});
const jsonParse = cpuTimed(() => {
  for (const l of lines) {
    try {
      JSON.parse(l);
    } catch {
      // broken lines cost their parse too
    }
  }
});
const pyParse = cpuTimed(() => {
  for (const l of lines) {
    try {
      loadsPy(l);
    } catch {
      // as above
    }
  }
});
const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
console.log(JSON.stringify({ texts: texts.length, bytes, tokens, ...encode, json_parse: jsonParse, loads_py: pyParse }));
