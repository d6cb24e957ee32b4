/**
 * Writes a realistic benchmark dataset (chat JSONL in Mistral's fine-tuning format) drawn from the
 * text on this machine (sources.ts), deterministic for a seed and a size:
 *   node --import tsx bench/corpus/generate.ts --mb 10 [--seed 1] [--broken 0.03] --out FILE
 * Beside FILE goes FILE.manifest.json: size, lines, the broken lines with the error code each must
 * get, and the digest of the source text (the same digest and seed give the same bytes).
 * The data is never checked in; the benchmarks generate it into a temporary directory.
 */
import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from './random.ts';
import { SampleMaker } from './samples.ts';
import { readSources, type Sources } from './sources.ts';
import { TextMaker } from './text.ts';

export type CorpusOptions = { mb: number; seed?: number; brokenShare?: number; sources?: Sources };
export type Manifest = {
  file: string; seed: number; bytes: number; lines: number; valid_lines: number;
  broken: { line: number; code: string }[];
  sources: Sources['stats'] & { prose_paragraphs: number; code_files: number; translations: Record<string, number> };
  command: string;
};

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let sourcesCache: Sources | undefined;

/** The machine's source text, read once per process. */
export function corpusSources(): Sources {
  sourcesCache ??= readSources(repoRoot);
  return sourcesCache;
}

/** Generates the corpus into `file` (about opts.mb MB, whole lines) and writes its manifest. */
export async function generateCorpus(file: string, opts: CorpusOptions): Promise<Manifest> {
  const seed = opts.seed ?? 1;
  const brokenShare = opts.brokenShare ?? 0.03;
  const src = opts.sources ?? corpusSources();
  const r = new Random(seed);
  const maker = new SampleMaker(new TextMaker(src, r), r, brokenShare);
  const out = createWriteStream(file);
  const broken: Manifest['broken'] = [];
  let bytes = 0;
  let lines = 0;
  let batch = '';
  while (bytes < opts.mb * 1e6) {
    const l = maker.line();
    lines += 1;
    if (l.expected) broken.push({ line: lines, code: l.expected });
    batch += `${l.text}\n`;
    bytes += Buffer.byteLength(l.text) + 1;
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await new Promise<void>((ok) => out.once('drain', () => ok()));
      batch = '';
    }
  }
  await new Promise<void>((ok, fail) => out.end(batch, () => ok()).once('error', fail));
  const manifest: Manifest = {
    file, seed, bytes, lines, valid_lines: lines - broken.length, broken,
    sources: {
      ...src.stats, prose_paragraphs: src.prose.length, code_files: src.code.length,
      translations: Object.fromEntries(Object.entries(src.translations).map(([k, v]) => [k, v.length])),
    },
    command: `node --import tsx bench/corpus/generate.ts --mb ${opts.mb} --seed ${seed} --broken ${brokenShare} --out ${path.basename(file)}`,
  };
  writeFileSync(`${file}.manifest.json`, `${JSON.stringify(manifest)}\n`);
  return manifest;
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = flag('--out');
  if (!out) {
    console.error('usage: generate.ts --mb N [--seed S] [--broken SHARE] --out FILE');
    process.exit(2);
  }
  const m = await generateCorpus(out, { mb: Number(flag('--mb') ?? 10), seed: Number(flag('--seed') ?? 1), brokenShare: Number(flag('--broken') ?? 0.03) });
  console.log(JSON.stringify({ ...m, broken: m.broken.length }));
}
