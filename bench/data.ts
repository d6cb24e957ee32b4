/**
 * `npm run bench:data`: the data path as users meet it, on the realistic corpus (bench/corpus).
 * For each corpus size and tokenizer, whole processes are run interleaved, several times:
 *   atelier data validate --json --tokenizer T FILE        (validation + train-mode token counts)
 *   atelier data tokenize --tokenizer T < FILE              (tokens + loss mask per line)
 *   .venv/bin/python bench/data_ref.py --tokenizer T ...    (mistral-common: validate + encode loop)
 * each under /usr/bin/time (wall, user + system CPU seconds of the whole process and its threads,
 * peak RSS), with the load average beside it. Token counts are cross-checked: validate's total and
 * trained counts must equal the reference's, and tokenize's tokens on the lines the manifest says
 * are valid too. Then the tokenizer alone (in process, cold caches) against mistral-common's
 * encoder on every message text of the small corpus. Prints the table; writes bench/results/data.json.
 *
 *   node --import tsx bench/data.ts [--sizes 10,500] [--runs 3] [--big-runs 1] [--ref-big-mb 50]
 *                                   [--tokenizers v3,tekken] [--keep DIR] [--out bench/results/data.json]
 *                                   [--alone-only]   (only the tokenizer-alone comparison)
 * The reference on the 500 MB file reads only its first --ref-big-mb MB (a whole pass takes over
 * ten minutes); its rates are per MB, stated as such.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { corpusSources, generateCorpus, repoRoot as root, type Manifest } from './corpus/generate.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,500' }, runs: { type: 'string', default: '3' }, 'big-runs': { type: 'string', default: '1' },
    'ref-big-mb': { type: 'string', default: '50' }, tokenizers: { type: 'string', default: 'v3,tekken' }, keep: { type: 'string' },
    out: { type: 'string', default: 'bench/results/data.json' }, 'alone-only': { type: 'boolean', default: false },
  },
});
const python = path.join(root, '.venv/bin/python');
const dataDir = execFileSync(python, ['-c', 'import mistral_common,os;print(os.path.join(os.path.dirname(mistral_common.__file__),"data"))'], { encoding: 'utf8' }).trim();
const TOKENIZERS: Record<string, string> = { v3: 'mistral_instruct_tokenizer_240323.model.v3', tekken: 'tekken_240718.json' };

export type Measure = { seconds: number; cpu_seconds: number; peak_rss_mb: number; load1: number; exit: number };
type Counts = { lines: number; valid: number; tokens: number; trained: number; bytes: number };

function load1(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Runs a command under /usr/bin/time; resolves to its measure and its stdout (or what `sink` kept). */
function timed(cmd: string[], opts: { stdin?: string; stdout?: string; env?: Record<string, string> } = {}): Promise<{ m: Measure; out: string }> {
  const tf = path.join(os.tmpdir(), `atelier-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const before = load1();
  const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', tf, ...cmd], { cwd: root, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  // `data tokenize` reports each broken line on stderr; keep only the tail, for a failure message.
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-2000)));
  if (opts.stdin) createReadStream(opts.stdin).pipe(child.stdin);
  else child.stdin.end();
  let out = '';
  if (opts.stdout) child.stdout.pipe(createWriteStream(opts.stdout));
  else child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  return new Promise((ok, fail) => {
    child.once('error', fail);
    child.once('close', (code) => {
      const [e, u, s, kb] = readFileSync(tf, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number, number];
      rmSync(tf, { force: true });
      if (code !== 0 && code !== 1) return fail(new Error(`${cmd.join(' ')} exited with ${code}: ${err}`));
      ok({ m: { seconds: e, cpu_seconds: u + s, peak_rss_mb: kb / 1024, load1: Math.max(before, load1()), exit: code ?? -1 }, out });
    });
  });
}

/** `data validate`; threads: ATELIER_DATA_THREADS (0: one per core; the default is 1). */
async function atelierValidate(tok: string, file: string, threads = 0): Promise<{ m: Measure; c: Counts }> {
  const env = { ATELIER_DATA_THREADS: String(threads) };
  const { m, out } = await timed([process.execPath, 'bin/atelier.js', 'data', 'validate', '--json', '--tokenizer', tok, file], { env });
  const r = JSON.parse(out).files[0];
  return { m, c: { lines: r.lines, valid: r.valid_lines, tokens: r.stats.tokens, trained: r.stats.trained_tokens, bytes: r.bytes } };
}

/** `data tokenize`; with `countInto`, its output goes to that file and the valid lines' tokens are counted after the run. */
async function atelierTokenize(tok: string, file: string, manifest: Manifest, countInto?: string): Promise<{ m: Measure; tokens: number | null }> {
  const { m } = await timed([process.execPath, 'bin/atelier.js', 'data', 'tokenize', '--tokenizer', tok], { stdin: file, stdout: countInto ?? '/dev/null' });
  if (!countInto) return { m, tokens: null };
  const broken = new Set(manifest.broken.map((b) => b.line));
  let tokens = 0;
  readFileSync(countInto, 'utf8').split('\n').forEach((l, i) => {
    if (broken.has(i + 1) || !l.startsWith('{"tokens":[')) return;
    const end = l.indexOf('],"mask"');
    let n = 1;
    for (let k = l.indexOf(',', 11); k !== -1 && k < end; k = l.indexOf(',', k + 1)) n += 1;
    tokens += n;
  });
  rmSync(countInto, { force: true });
  return { m, tokens };
}

async function reference(tok: string, file: string, maxBytes: number): Promise<{ m: Measure; c: Counts }> {
  const args = [python, 'bench/data_ref.py', '--tokenizer', tok, '--data', file, ...(maxBytes ? ['--max-bytes', String(maxBytes)] : [])];
  const { m, out } = await timed(args);
  const r = JSON.parse(out);
  return { m, c: { lines: r.lines, valid: r.valid, tokens: r.tokens, trained: r.trained, bytes: r.bytes } };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Medians of each field over runs, plus MB/s by wall and per CPU second for `bytes` of input. */
function summarize(ms: Measure[], bytes: number) {
  const f = (k: keyof Measure) => median(ms.map((m) => m[k]));
  const seconds = f('seconds');
  const cpu = f('cpu_seconds');
  return {
    runs: ms.length, seconds, cpu_seconds: cpu, peak_rss_mb: f('peak_rss_mb'), load1: f('load1'),
    mb_per_s: bytes / 1e6 / seconds, mb_per_cpu_s: bytes / 1e6 / cpu, each: ms,
  };
}

function check(label: string, got: unknown, want: unknown): void {
  if (got !== want) throw new Error(`${label}: Atelier ${String(got)} vs mistral-common ${String(want)}`);
}

async function compare(name: string, file: string, manifest: Manifest, runs: number, refBytes: number, tmp: string) {
  const tok = path.join(dataDir, TOKENIZERS[name] as string);
  const v: Measure[] = [];
  const v1: Measure[] = [];
  const t: Measure[] = [];
  const r: Measure[] = [];
  let refCounts: Counts | null = null;
  for (let i = 0; i < runs; i++) {
    const a = await atelierValidate(tok, file);
    const ref = await reference(tok, file, refBytes);
    const one = await atelierValidate(tok, file, 1);
    const countTokens = i === 0 && !refBytes;
    const tk = await atelierTokenize(tok, file, manifest, countTokens ? path.join(tmp, 'tokens.jsonl') : undefined);
    if (!refBytes) {
      for (const k of ['lines', 'valid', 'tokens', 'trained'] as const) check(`${name} ${k}`, a.c[k], ref.c[k]);
      for (const k of ['lines', 'valid', 'tokens', 'trained'] as const) check(`${name} ${k} (1 thread)`, one.c[k], ref.c[k]);
      if (tk.tokens !== null) check(`${name} tokenize tokens`, tk.tokens, ref.c.tokens);
    }
    v.push(a.m);
    v1.push(one.m);
    t.push(tk.m);
    r.push(ref.m);
    refCounts = ref.c;
    console.error(`  ${name} run ${i + 1}: validate ${a.m.seconds}s/${a.m.cpu_seconds.toFixed(2)} cpu-s (1 thread ${one.m.seconds}s/${one.m.cpu_seconds.toFixed(2)}), tokenize ${tk.m.seconds}s/${tk.m.cpu_seconds.toFixed(2)}, mistral-common ${ref.m.seconds}s/${ref.m.cpu_seconds.toFixed(2)} (load ${a.m.load1})`);
  }
  const rc = refCounts as Counts;
  const validate = summarize(v, manifest.bytes);
  const validateOne = summarize(v1, manifest.bytes);
  const tokenize = summarize(t, manifest.bytes);
  const mc = summarize(r, rc.bytes);
  const ratio = (a: ReturnType<typeof summarize>) => ({ wall: a.mb_per_s / mc.mb_per_s, cpu: a.mb_per_cpu_s / mc.mb_per_cpu_s });
  return {
    tokenizer: TOKENIZERS[name], reference_bytes: rc.bytes, counts: rc,
    atelier_validate: validate, atelier_validate_1_thread: validateOne, atelier_tokenize: tokenize, mistral_common: mc,
    speedup: { validate: ratio(validate), validate_1_thread: ratio(validateOne), tokenize: ratio(tokenize) },
  };
}

/**
 * The tokenizer alone on every message text of the file, one cold process per side per run, the
 * sides interleaved; medians of `runs` (a single pair swung by ±30% on the shared machine).
 */
async function tokenizerAlone(name: string, file: string, runs: number) {
  const tok = path.join(dataDir, TOKENIZERS[name] as string);
  type Side = { texts: number; bytes: number; tokens: number; seconds: number; cpu_seconds: number };
  const as: Side[] = [];
  const rs: Side[] = [];
  for (let i = 0; i < runs; i++) {
    as.push(JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', 'bench/data-encode.ts', tok, file], { cwd: root, encoding: 'utf8' })));
    rs.push(JSON.parse(execFileSync(python, ['bench/data_encode_ref.py', tok, file], { cwd: root, encoding: 'utf8' })));
    check(`${name} encode tokens`, as[i]?.tokens, rs[i]?.tokens);
  }
  const med = (xs: Side[]) => ({ ...(xs[0] as Side), seconds: median(xs.map((x) => x.seconds)), cpu_seconds: median(xs.map((x) => x.cpu_seconds)), each_cpu_seconds: xs.map((x) => x.cpu_seconds) });
  const a = med(as);
  const r = med(rs);
  return { texts: a.texts, text_mb: a.bytes / 1e6, tokens: a.tokens, runs, load1: load1(), atelier: a, mistral_common: r, speedup: { wall: r.seconds / a.seconds, cpu: r.cpu_seconds / a.cpu_seconds } };
}

function row(label: string, s: { seconds: number; cpu_seconds: number; mb_per_s: number; mb_per_cpu_s: number; peak_rss_mb: number }, vs?: { wall: number; cpu: number }): string {
  const cells = [label.padEnd(34), `${s.seconds.toFixed(2)} s`.padStart(10), `${s.cpu_seconds.toFixed(2)} s`.padStart(10), s.mb_per_s.toFixed(2).padStart(8), s.mb_per_cpu_s.toFixed(2).padStart(9), `${s.peak_rss_mb.toFixed(0)} MB`.padStart(8)];
  if (vs) cells.push(`${vs.wall.toFixed(1)}x`.padStart(7), `${vs.cpu.toFixed(1)}x`.padStart(7));
  return cells.join(' ');
}

function printTable(results: Record<string, unknown>[]): void {
  console.log(`\n${'process'.padEnd(34)} ${'wall'.padStart(10)} ${'cpu'.padStart(10)} ${'MB/s'.padStart(8)} ${'MB/cpu-s'.padStart(9)} ${'peak RSS'.padStart(8)} ${'x wall'.padStart(7)} ${'x cpu'.padStart(7)}`);
  for (const res of results) {
    const r = res as Awaited<ReturnType<typeof compare>> & { corpus_mb: number; corpus_bytes: number; name: string };
    console.log(`-- ${r.corpus_mb} MB corpus, ${r.name} (${r.tokenizer}); medians of ${r.atelier_validate.runs} runs`);
    console.log(row('atelier data validate --tokenizer', r.atelier_validate_1_thread, r.speedup.validate_1_thread));
    console.log(row('  same, ATELIER_DATA_THREADS=0 (2)', r.atelier_validate, r.speedup.validate));
    console.log(row('atelier data tokenize', r.atelier_tokenize, r.speedup.tokenize));
    const part = r.reference_bytes < r.corpus_bytes ? ` (first ${(r.reference_bytes / 1e6).toFixed(0)} MB)` : '';
    console.log(row(`mistral-common validate+encode${part}`, r.mistral_common));
  }
}

async function main(): Promise<void> {
  const sizes = values.sizes.split(',').map(Number);
  const tmp = values.keep ?? mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-data-'));
  const sources = corpusSources();
  const results: Record<string, unknown>[] = [];
  const encode: Record<string, unknown> = {};
  try {
    for (const mb of sizes) {
      const file = path.join(tmp, `corpus-${mb}mb.jsonl`);
      const manifest = await generateCorpus(file, { mb, seed: 1, sources });
      const big = mb > 50;
      const runs = Number(big ? values['big-runs'] : values.runs);
      const refBytes = big ? Number(values['ref-big-mb']) * 1e6 : 0;
      for (const name of values.tokenizers.split(',')) {
        console.error(`${mb} MB corpus (${manifest.lines} lines, ${manifest.broken.length} broken), ${name}:`);
        if (!values['alone-only']) results.push({ corpus_mb: mb, corpus_bytes: manifest.bytes, name, lines: manifest.lines, broken_lines: manifest.broken.length, ...(await compare(name, file, manifest, runs, refBytes, tmp)) });
        if (!big && !(name in encode)) encode[name] = await tokenizerAlone(name, file, runs);
      }
      if (!values.keep) rmSync(file, { force: true });
    }
  } finally {
    if (!values.keep) rmSync(tmp, { recursive: true, force: true });
  }
  printTable(results);
  for (const [name, e] of Object.entries(encode)) {
    const x = e as Awaited<ReturnType<typeof tokenizerAlone>>;
    console.log(`tokenizer alone, ${name}, first pass over ${x.texts} message texts (${x.text_mb.toFixed(1)} MB), medians of ${x.runs}: Atelier ${x.atelier.cpu_seconds.toFixed(2)} cpu-s, mistral-common ${x.mistral_common.cpu_seconds.toFixed(2)} cpu-s: ${x.speedup.cpu.toFixed(1)}x per CPU second, ${x.speedup.wall.toFixed(1)}x wall`);
  }
  const out = {
    command: `npm run bench:data -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, mem_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version, note: 'load1 beside each run: the machine may be shared' },
    corpus: { generator: 'bench/corpus/generate.ts --seed 1', sources: sources.stats },
    date: new Date().toISOString(), validate_tokenize: results, tokenizer_alone: encode,
  };
  writeFileSync(path.resolve(root, values.out), `${JSON.stringify(out, null, 2)}\n`);
}

await main();
