/**
 * Prints the markdown tables of docs/datasets.md#throughput and the README row from the JSON that
 * `npm run bench:data` writes, so the published figures are the bench's own numbers.
 *   node --import tsx bench/data-table.ts bench/results/data-10mb.json [more.json ...]
 */
import { readFileSync } from 'node:fs';

type Summary = { seconds: number; cpu_seconds: number; peak_rss_mb: number; load1: number; mb_per_cpu_s: number; runs: number };
type Ratio = { wall: number; cpu: number };
type Result = {
  corpus_mb: number; name: string; tokenizer: string; lines: number; broken_lines: number; reference_bytes: number; corpus_bytes: number;
  atelier_validate: Summary; atelier_validate_1_thread: Summary; atelier_tokenize: Summary; mistral_common: Summary;
  speedup: { validate: Ratio; validate_1_thread: Ratio; tokenize: Ratio };
};
type Alone = { texts: number; text_mb: number; atelier: { cpu_seconds: number; seconds: number }; mistral_common: { cpu_seconds: number; seconds: number }; speedup: Ratio };
type Bench = { command: string; date: string; machine: { cpus: number; model: string }; validate_tokenize: Result[]; tokenizer_alone: Record<string, Alone> };

const cell = (s: Summary, r?: Ratio) => `${s.cpu_seconds.toFixed(2)} s / ${s.seconds.toFixed(1)} s / ${s.peak_rss_mb.toFixed(0)} MB${r ? ` | ${r.cpu.toFixed(1)}× / ${r.wall.toFixed(1)}×` : ' | 1×'}`;

for (const file of process.argv.slice(2)) {
  const b = JSON.parse(readFileSync(file, 'utf8')) as Bench;
  const bySize = new Map<number, Result[]>();
  for (const r of b.validate_tokenize) bySize.set(r.corpus_mb, [...(bySize.get(r.corpus_mb) ?? []), r]);
  console.log(`<!-- ${file}: \`${b.command}\`, ${b.date}, ${b.machine.cpus} × ${b.machine.model} -->`);
  for (const [mb, rs] of bySize) {
    const first = rs[0] as Result;
    const loads = rs.flatMap((r) => [r.atelier_validate.load1, r.mistral_common.load1]);
    const part = first.reference_bytes < first.corpus_bytes ? `; mistral-common read the first ${(first.reference_bytes / 1e6).toFixed(0)} MB, its ratio is per MB` : '';
    console.log(`\n${mb} MB corpus (${first.lines} lines, ${first.broken_lines} broken), medians of ${first.atelier_validate.runs} interleaved runs, load average ${Math.min(...loads).toFixed(0)}-${Math.max(...loads).toFixed(0)}${part}:\n`);
    console.log(`| process | ${rs.map((r) => `${r.name}: CPU / wall / peak RSS | vs mistral-common (CPU / wall)`).join(' | ')} |`);
    console.log(`|---|${rs.map(() => '---|---|').join('')}`);
    const rows: [string, (r: Result) => string][] = [
      ['`atelier data validate --tokenizer` (default, 1 thread)', (r) => cell(r.atelier_validate_1_thread, r.speedup.validate_1_thread)],
      ['same, `ATELIER_DATA_THREADS=0` (2 threads)', (r) => cell(r.atelier_validate, r.speedup.validate)],
      ['`atelier data tokenize`', (r) => cell(r.atelier_tokenize, r.speedup.tokenize)],
      ['mistral-common validate + encode (bench/data_ref.py)', (r) => cell(r.mistral_common)],
    ];
    for (const [label, f] of rows) console.log(`| ${label} | ${rs.map(f).join(' | ')} |`);
  }
  const alone = Object.entries(b.tokenizer_alone ?? {});
  if (alone.length) {
    console.log('\n| tokenizer alone, first pass | texts | mistral-common CPU s | Atelier CPU s | per CPU second | wall |');
    console.log('|---|---|---|---|---|---|');
    for (const [name, a] of alone) {
      console.log(`| ${name} | ${a.texts} (${a.text_mb.toFixed(1)} MB) | ${a.mistral_common.cpu_seconds.toFixed(2)} | ${a.atelier.cpu_seconds.toFixed(2)} | ${a.speedup.cpu.toFixed(1)}× | ${a.speedup.wall.toFixed(1)}× |`);
    }
  }
}
