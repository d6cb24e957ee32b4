import { readFileSync } from 'node:fs';
import { SpmBpe } from '../src/tokenizer/spm-bpe.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';
const [tokFile, dataFile] = process.argv.slice(2) as [string, string];
const texts: string[] = [];
for (const l of readFileSync(dataFile, 'utf8').split('\n')) { try { for (const m of JSON.parse(l).messages) if (typeof m.content === 'string') texts.push(m.content); } catch {} }
const P = SpmBpe.prototype as any;
const orig = P.encodeWordInto;
let misses = 0, missChars = 0; const hist = new Map<number, number>(); const histT = new Map<number, number>();
P.encodeWordInto = function (s: string, out: number[]) { misses++; missChars += s.length; const b = s.length <= 4 ? 4 : s.length <= 8 ? 8 : s.length <= 16 ? 16 : s.length <= 48 ? 48 : s.length <= 200 ? 200 : 9999; hist.set(b, (hist.get(b) ?? 0) + 1); histT.set(b, (histT.get(b) ?? 0) + s.length); return orig.call(this, s, out); };
const origC = P.cachedWordInto; let calls = 0; P.cachedWordInto = function (...a: any[]) { calls++; return origC.apply(this, a); };
const tok = await loadTokenizer(tokFile);
let n = 0; for (const t of texts) n += tok.encodeText(t).length;
console.log({ calls, misses, missChars, tokens: n, hist: [...hist].sort((a,b)=>a[0]-b[0]), chars: [...histT].sort((a,b)=>a[0]-b[0]) });
