/**
 * Validation throughput, in process: Atelier's validator (with and without tokenization) against
 * mistral-common (bench/validate_ref.py) on the same file: the realistic corpus (bench/corpus,
 * seed 1) by default; `--synthetic` uses the old 37-word vocabulary instead, a best case only (the
 * tokenizer's word cache answers nearly every word, which no real dataset allows).
 * `npm run bench:data` is the whole-process comparison the docs quote.
 *   node --import tsx bench/validate.ts [--mb 50] [--ref-lines 20000] [--memory-mb 512] [--synthetic]
 * Each measurement runs in its own process so peak RSS is its own; wall and CPU seconds are both
 * kept (the machine is shared). `--memory-mb N` also validates + tokenizes an N MB file (generated
 * in the temp dir, deleted afterwards) to record peak RSS. Writes bench/results/validate.json.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenCounter, validateDatasetFile } from '../src/data/index.ts';
import { generateCorpus } from './corpus/generate.ts';

const synthetic = process.argv.includes('--synthetic');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOKENIZER = path.join(root, 'models/tiny-mistral/tokenizer.model.v3');
const WORDS = 'the a model data train city weather Paris Rome answer question please thanks value result because when where how why what is are was were will would could should'.split(' ');

function sentence(r: () => number, n: number): string {
  return Array.from({ length: n }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' ');
}

function sampleLine(i: number, r: () => number): string {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Get the weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city'] } } }];
  const messages: unknown[] = [{ role: 'system', content: sentence(r, 12) }];
  const turns = 1 + Math.floor(r() * 4);
  for (let t = 0; t < turns; t += 1) {
    messages.push({ role: 'user', content: sentence(r, 10 + Math.floor(r() * 60)) });
    if (i % 3 === 0 && t === 0) {
      const id = `c${String(i).padStart(8, '0')}`.slice(-9);
      messages.push({ role: 'assistant', tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris', unit: 'c' }) } }] });
      messages.push({ role: 'tool', tool_call_id: id, content: JSON.stringify({ temp: Math.floor(r() * 30) }) });
    }
    messages.push({ role: 'assistant', content: sentence(r, 20 + Math.floor(r() * 120)) });
  }
  return JSON.stringify(i % 3 === 0 ? { messages, tools } : { messages });
}

async function generate(file: string, mb: number): Promise<void> {
  if (!synthetic) {
    await generateCorpus(file, { mb, seed: 1 });
    return;
  }
  let s = 12345;
  const r = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const out = createWriteStream(file);
  let bytes = 0;
  for (let i = 0; bytes < mb * 1e6; i += 1) {
    const line = `${sampleLine(i, r)}\n`;
    bytes += Buffer.byteLength(line);
    if (!out.write(line)) await new Promise<void>((ok) => out.once('drain', () => ok()));
  }
  await new Promise<void>((ok) => out.end(() => ok()));
}

/** Child mode: validate one file and print the measurement. */
async function measure(file: string, withTokens: boolean): Promise<void> {
  const countTokens = withTokens ? await loadTokenCounter(TOKENIZER) : undefined;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const report = await validateDatasetFile(file, { countTokens });
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const bytes = statSync(file).size;
  console.log(JSON.stringify({
    lines: report.lines, valid: report.valid_lines, bytes, tokens: report.stats.tokens, seconds,
    // CPU of every thread of the process (workers included).
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    mb_per_s: bytes / 1e6 / seconds, lines_per_s: report.lines / seconds, peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }));
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return measure(process.argv[3] as string, process.argv[4] === 'tokens');
  const mb = flag('--mb', 50);
  const refLines = flag('--ref-lines', 20000);
  const memoryMb = flag('--memory-mb', 0);
  const dir = mkdtempSync(path.join(tmpdir(), 'atelier-bench-'));
  try {
    const file = path.join(dir, 'bench.jsonl');
    await generate(file, mb);
    const self = fileURLToPath(import.meta.url);
    const run = (mode: string, target = file) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', self, '--child', target, mode], { cwd: root, encoding: 'utf8' }));
    const atelier = run('plain');
    const atelierTokens = run('tokens');
    const ref = JSON.parse(execFileSync(path.join(root, '.venv/bin/python'), [path.join(root, 'bench/validate_ref.py'), file, String(refLines)], { encoding: 'utf8' }));
    const result = {
      file_mb: statSync(file).size / 1e6, command: `node --import tsx bench/validate.ts --mb ${mb} --ref-lines ${refLines}${memoryMb ? ` --memory-mb ${memoryMb}` : ''}${synthetic ? ' --synthetic' : ''}`,
      corpus: synthetic ? 'synthetic 37-word vocabulary: a best case, not a real dataset' : 'realistic (bench/corpus/generate.ts, seed 1)',
      atelier_validate: atelier, atelier_validate_tokenize: atelierTokens,
      mistral_common_validate_tokenize: ref,
      speedup_validate: atelier.lines_per_s / ref.lines_per_s, speedup_validate_tokenize: atelierTokens.lines_per_s / ref.lines_per_s,
      // Per CPU second: the fairer comparison on a machine shared with other work.
      speedup_validate_tokenize_cpu: (ref.cpu_seconds / ref.bytes) / (atelierTokens.cpu_seconds / atelierTokens.bytes),
      memory: null as unknown,
      node: process.version, cpus: (await import('node:os')).cpus().length,
    };
    if (memoryMb) {
      rmSync(file);
      const big = path.join(dir, 'big.jsonl');
      await generate(big, memoryMb);
      result.memory = { file_mb: statSync(big).size / 1e6, validate_tokenize: run('tokens', big), validate: run('plain', big) };
      rmSync(big);
    }
    writeFileSync(path.join(root, 'bench/results/validate.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
