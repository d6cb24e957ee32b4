/**
 * `atelier data <validate|stats|reformat|split|tokenize>`: dataset tools on local JSONL files.
 * Exit codes: 0 success (every line of every file valid), 1 a file or line is invalid or
 * unreadable, 2 usage error (unknown flag, missing argument).
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import {
  classifierTargetSchema, loadTokenCounter, parseSize, reformatFile, splitFile, validateDatasetFile,
  type FileReport, type ValidateOptions,
} from '../../data/index.ts';
import { loadSettings } from '../../settings/index.ts';

const usage = `usage: atelier data <command> [options]

  validate [--json] [--format auto|chat|classifier] [--tokenizer FILE] [--validation-file]
           [--classifier-targets JSON|@FILE] FILE...
                       check every line of every file; exit 0 when all are valid, 1 otherwise
  stats    [same options as validate] FILE...     statistics of the valid lines
  reformat IN OUT [--json]                        rewrite legacy/ShareGPT formats (no line dropped)
  split    IN --max-size SIZE [--json]            IN.part-001.jsonl … (SIZE like 500MB, 1GiB)
  tokenize --tokenizer FILE [--json]              tokens + loss mask per stdin line

Exit codes: 0 ok, 1 invalid or unreadable data, 2 usage error. See docs/datasets.md.`;

class UsageError extends Error {}

type Parsed = { flags: Record<string, string | true>; positionals: string[] };

const VALUE_FLAGS = new Set(['--format', '--tokenizer', '--classifier-targets', '--max-size']);
const BOOL_FLAGS = new Set(['--json', '--validation-file', '--help', '-h']);

function parseArgs(args: string[]): Parsed {
  const out: Parsed = { flags: {}, positionals: [] };
  for (let i = 0; i < args.length; i += 1) {
    const a = args[i];
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (VALUE_FLAGS.has(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      out.flags[name] = value;
    } else if (BOOL_FLAGS.has(name)) out.flags[name] = true;
    else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
    else out.positionals.push(a);
  }
  return out;
}

const validateFlags = z.object({
  '--json': z.literal(true).optional(),
  '--format': z.enum(['auto', 'chat', 'classifier']).default('auto'),
  '--tokenizer': z.string().optional(),
  '--validation-file': z.literal(true).optional(),
  '--classifier-targets': z.string().optional(),
});

/** Runs `atelier data …`; resolves to the exit code. */
export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'tokenize') {
    // Written by the tokenizer part; loaded only when asked for.
    const mod: unknown = await import('./data-tokenize.ts');
    const runTokenize = z.object({ run: z.function() }).parse(mod).run as (a: string[]) => Promise<number>;
    return runTokenize(rest);
  }
  // Every sub-command's options are in the one usage text.
  if (rest.includes('--help') || rest.includes('-h')) return (console.log(usage), 0);
  try {
    if (sub === 'validate' || sub === 'stats') return await runValidate(sub, parseArgs(rest));
    if (sub === 'reformat') return await runReformat(parseArgs(rest));
    if (sub === 'split') return await runSplit(parseArgs(rest));
    if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
      console.log(usage);
      return sub ? 0 : 2;
    }
    throw new UsageError(`unknown data command '${sub}'`);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`atelier data: ${err.message}\n\n${usage}`);
    return 2;
  }
}

async function runValidate(sub: 'validate' | 'stats', { flags, positionals }: Parsed): Promise<number> {
  if (flags['--help'] || flags['-h']) {
    console.log(usage);
    return 0;
  }
  const parsed = validateFlags.safeParse(flags);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; '));
  if (positionals.length === 0) throw new UsageError(`${sub} needs at least one FILE`);
  const f = parsed.data;
  const opts: ValidateOptions = { format: f['--format'], role: f['--validation-file'] ? 'validation' : 'training' };
  if (f['--classifier-targets']) opts.classifierTargets = await readTargets(f['--classifier-targets']);
  if (f['--tokenizer']) {
    try {
      opts.countTokens = await loadTokenCounter(f['--tokenizer']);
    } catch (err) {
      console.error(`atelier data: cannot load tokenizer ${f['--tokenizer']}: ${err instanceof Error ? err.message : String(err)}`);
      return 2;
    }
  }
  opts.parallel = { threads: loadSettings().dataThreads || availableParallelism(), tokenizerPath: f['--tokenizer'] };
  const reports: FileReport[] = [];
  for (const path of positionals) reports.push(await validateDatasetFile(path, opts));
  if (f['--json']) console.log(JSON.stringify({ files: reports.map(toJson) }));
  else for (const r of reports) console.log(sub === 'stats' ? formatStats(r) : formatReport(r));
  return reports.every((r) => r.error_count === 0) ? 0 : 1;
}

async function readTargets(value: string): Promise<z.infer<typeof classifierTargetSchema>[]> {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = await readFile(value.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${value.slice(1)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new UsageError(`--classifier-targets is not JSON: ${err.message}`);
  }
  const targets = z.array(classifierTargetSchema).min(1).safeParse(json);
  if (!targets.success) throw new UsageError(`--classifier-targets must be a list of {name, labels, loss_function?}: ${targets.error.issues[0]?.message}`);
  return targets.data;
}

function toJson(r: FileReport) {
  return {
    path: r.path, lines: r.lines, valid_lines: r.valid_lines,
    errors: r.errors.map((e) => ({ line: e.line, code: e.code, message: e.message })),
    error_count: r.error_count, errors_truncated: r.errors_truncated, bytes: r.bytes, format: r.format, stats: r.stats,
  };
}

function formatReport(r: FileReport): string {
  const head = `${r.path}: ${r.lines} lines, ${r.valid_lines} valid, ${r.error_count} error${r.error_count === 1 ? '' : 's'}`;
  const errors = r.errors.map((e) => `  ${e.line === 0 ? 'file' : `line ${e.line}`}: [${e.code}] ${e.message}`);
  if (r.errors_truncated) errors.push(`  … ${r.error_count - r.errors.length} more errors not shown`);
  return [head, ...errors, formatStats(r)].join('\n');
}

function formatStats(r: FileReport): string {
  const s = r.stats;
  const rows = [
    `  samples: ${s.samples} (${s.chat_samples} chat, ${s.classifier_samples} classifier), ${s.sample_bytes} bytes`,
    `  turns: ${s.turns}, assistant turns: ${s.assistant_turns} (${s.assistant_turns_trained} trained), tool calls: ${s.tool_calls}, images: ${s.images}`,
    `  longest sample: ${s.longest_sample ? `line ${s.longest_sample.line}, ${s.longest_sample.bytes} bytes` : '-'}`,
  ];
  if (s.tokens !== null) {
    rows.push(`  tokens: ${s.tokens} (${s.trained_tokens} trained), longest: ${s.longest_sample_tokens ? `line ${s.longest_sample_tokens.line}, ${s.longest_sample_tokens.tokens} tokens` : '-'}`);
  }
  for (const [target, counts] of Object.entries(s.labels)) {
    rows.push(`  labels.${target}: ${Object.entries(counts).map(([l, n]) => `${l}=${n}`).join(', ')}`);
  }
  return [`${r.path} statistics (valid lines only):`, ...rows].join('\n');
}

async function runReformat({ flags, positionals }: Parsed): Promise<number> {
  if (positionals.length !== 2) throw new UsageError('reformat needs IN and OUT');
  const [input, output] = positionals;
  if (input === output) throw new UsageError('OUT must differ from IN');
  let report;
  try {
    report = await reformatFile(input, output);
  } catch (err) {
    if (!(err instanceof Error && 'code' in err)) throw err;
    console.error(`atelier data reformat: ${err.message}`);
    return 1;
  }
  if (flags['--json']) console.log(JSON.stringify(report));
  else {
    const changed = Object.entries(report.changes).filter(([, n]) => n > 0).map(([k, n]) => `  ${k}: ${n}`);
    console.log([`${input} → ${output}: ${report.lines} lines, ${report.changed_lines} changed`, ...changed].join('\n'));
    for (const u of report.unrepaired) console.log(`  line ${u.line}: kept unchanged, cannot repair: ${u.reason}`);
  }
  return report.unrepaired.length ? 1 : 0;
}

async function runSplit({ flags, positionals }: Parsed): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('split needs exactly one IN file');
  const size = typeof flags['--max-size'] === 'string' ? parseSize(flags['--max-size']) : null;
  if (size === null) throw new UsageError('split needs --max-size SIZE, e.g. 500MB, 1.5GiB or a number of bytes');
  let report;
  try {
    report = await splitFile(positionals[0], size);
  } catch (err) {
    if (!(err instanceof Error && 'code' in err)) throw err;
    console.error(`atelier data split: ${err.message}`);
    return 1;
  }
  if (flags['--json']) console.log(JSON.stringify(report));
  else {
    for (const p of report.parts) console.log(`${p.path}: ${p.lines} lines, ${p.bytes} bytes`);
    for (const l of report.oversizedLines) console.log(`line ${l} alone is larger than ${size} bytes; it has a part of its own`);
  }
  return 0;
}
