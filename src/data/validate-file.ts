/**
 * Validates whole dataset files, streaming: every line is checked and every problem counted, the
 * stored error list is capped (limits.maxErrorsKept), and the file is never held in memory.
 * `validateDatasetFile` is what the server runs on fine-tune uploads; `iterateValidSamples` is what
 * a job's worker uses to tokenize the valid lines and skip the others.
 */
import { stat } from 'node:fs/promises';
import { excerpt, type DataError, type LineProblem } from './errors.ts';
import { resolveLimits, type DataLimits } from './limits.ts';
import { readLines, type ByteRange, type RawLine } from './line-reader.ts';
import { checkRangesInParallel, type ParallelOptions } from './parallel-check.ts';
import { addSample, emptyStats, type DatasetStats, type TokenCounter } from './stats.ts';
import { validateLine, type DatasetFormat, type FormatOption, type LineOptions, type LineVerdict } from './validate-line.ts';
import type { ClassifierTarget } from './classifier-rules.ts';
import type { Obj } from './message-rules.ts';

export type ValidateOptions = {
  format?: FormatOption;
  /** 'validation' applies the validation-file size limit (Mistral: 1 MB) instead of the training one. */
  role?: 'training' | 'validation';
  /** The job's classifier targets; labels are checked against them when given. */
  classifierTargets?: ClassifierTarget[];
  countTokens?: TokenCounter;
  limits?: Partial<DataLimits>;
  /**
   * Check a large file on several threads (parallel-check.ts): this one and threads - 1 workers,
   * each over byte ranges of the file; results are merged in line order, so the report is the same.
   * Workers count tokens with their own copy of the tokenizer at `tokenizerPath`.
   */
  parallel?: ParallelOptions;
};

export type FileReport = {
  path: string;
  bytes: number;
  lines: number;
  valid_lines: number;
  /** Every problem found, including those past the stored list's cap. */
  error_count: number;
  errors: DataError[];
  errors_truncated: boolean;
  /** The format of the valid lines: 'mixed' when both appear, null when none is valid. */
  format: DatasetFormat | 'mixed' | null;
  stats: DatasetStats;
};

/** Below this size a file is checked on one thread: starting workers costs more than it saves. */
const MIN_PARALLEL_BYTES = 4 << 20;

/** One checked line: its problems, and the parsed sample when it is valid. */
export type CheckedLine = { line: number; bytes: number; problems: LineProblem[]; verdict: LineVerdict | null; tokens: { tokens: number; trained: number } | null };

/** A valid sample as the worker sees it. */
export type ValidSample = { line: number; format: DatasetFormat; sample: Obj };

/**
 * Checks every line of a file (or of a byte range of it) in order (file-level problems are not
 * included; see validateDatasetFile). Blank lines at the very end of the file are not samples
 * (editors add them), so they are held back and dropped; a blank line before a sample is still
 * `line_blank`. A range that ends before the file does reports its held-back blanks: a sample
 * follows them in a later range (unless the file's last 4 MB range is blank lines only).
 */
export async function* checkLines(path: string, opts: ValidateOptions = {}, range?: ByteRange): AsyncGenerator<CheckedLine> {
  const limits = resolveLimits(opts.limits);
  const lineOpts = { format: opts.format ?? 'auto', targets: opts.classifierTargets, limits };
  let blanks: RawLine[] = [];
  for await (const raw of readLines(path, limits.maxLineBytes, range)) {
    if (raw.kind === 'text' && raw.text.trim() === '') {
      blanks.push(raw);
      continue;
    }
    for (const b of blanks) yield checkLine(b, lineOpts, limits, opts);
    blanks = [];
    yield checkLine(raw, lineOpts, limits, opts);
  }
  if (range && blanks.length && range.end < (await stat(path)).size) {
    for (const b of blanks) yield checkLine(b, lineOpts, limits, opts);
  }
}

function checkLine(raw: RawLine, lineOpts: LineOptions, limits: DataLimits, opts: ValidateOptions): CheckedLine {
  const verdict = raw.kind === 'text' ? validateLine(raw.text, lineOpts) : null;
  const problems = raw.kind === 'text' ? (verdict as LineVerdict).problems : [rawProblem(raw, limits)];
  let tokens = null;
  if (verdict?.sample && problems.length === 0 && opts.countTokens && verdict.format) {
    tokens = countSafely(opts.countTokens, verdict.sample, verdict.format, problems);
  }
  return { line: raw.line, bytes: raw.bytes, problems, verdict, tokens };
}

/** Yields the valid samples of a file with their line numbers, skipping invalid lines. */
export async function* iterateValidSamples(path: string, opts: ValidateOptions = {}): AsyncGenerator<ValidSample> {
  for await (const c of checkLines(path, opts)) {
    if (c.problems.length === 0 && c.verdict?.sample && c.verdict.format) {
      yield { line: c.line, format: c.verdict.format, sample: c.verdict.sample };
    }
  }
}

/** Validates a whole file and returns its report; never throws for a bad or missing file. */
export async function validateDatasetFile(path: string, opts: ValidateOptions = {}): Promise<FileReport> {
  const limits = resolveLimits(opts.limits);
  const report: FileReport = {
    path, bytes: 0, lines: 0, valid_lines: 0, error_count: 0, errors: [], errors_truncated: false,
    format: null, stats: emptyStats(Boolean(opts.countTokens)),
  };
  const record = (line: number, p: LineProblem) => {
    report.error_count += 1;
    if (report.errors.length < limits.maxErrorsKept) report.errors.push({ file: path, line, ...p });
    else report.errors_truncated = true;
  };
  const fileProblem = await checkFileSize(path, opts.role ?? 'training', limits);
  if (fileProblem === 'unreadable') return withUnreadable(report, path);
  report.bytes = fileProblem.bytes;
  if (fileProblem.problem) record(0, fileProblem.problem);
  try {
    for await (const c of linesOf(path, report.bytes, { ...opts, limits })) {
      report.lines = c.line;
      if (c.problems.length) {
        for (const p of c.problems) record(c.line, p);
        continue;
      }
      report.valid_lines += 1;
      const v = c.verdict as LineVerdict;
      addSample(report.stats, { line: c.line, bytes: c.bytes, format: v.format as DatasetFormat, counts: v.counts, labels: v.labels, tokens: c.tokens });
    }
  } catch (err) {
    if (!isErrno(err)) throw err;
    record(0, { code: 'file_unreadable', message: `reading ${path} failed after line ${report.lines}: ${err.message}` });
  }
  if (report.lines < limits.minLines) {
    record(0, { code: 'file_too_few_lines', message: `${path} has ${report.lines} lines; a dataset needs at least ${limits.minLines}` });
  }
  report.format = report.stats.chat_samples && report.stats.classifier_samples ? 'mixed'
    : report.stats.chat_samples ? 'chat' : report.stats.classifier_samples ? 'classifier' : null;
  return report;
}

/** The checked lines, on several threads when asked and the file is large enough to gain from it. */
function linesOf(path: string, size: number, opts: ValidateOptions & { limits: DataLimits }): AsyncIterable<CheckedLine> {
  const par = opts.parallel;
  if (!par || par.threads < 2 || size < 2 * (par.chunkBytes ?? MIN_PARALLEL_BYTES)) return checkLines(path, opts);
  const { format, classifierTargets, limits } = opts;
  const setup = { path, options: { format, classifierTargets, limits }, tokenizerPath: par.tokenizerPath };
  return checkRangesInParallel(size, par, setup, (range) => checkLeanLines(path, opts, range));
}

/** checkLines without the parsed samples (what validateDatasetFile keeps; cheap to pass between threads). */
export async function* checkLeanLines(path: string, opts: ValidateOptions, range?: ByteRange): AsyncGenerator<CheckedLine> {
  for await (const c of checkLines(path, opts, range)) {
    if (c.verdict) c.verdict.sample = null;
    yield c;
  }
}

function rawProblem(raw: Exclude<RawLine, { kind: 'text' }>, limits: DataLimits): LineProblem {
  if (raw.kind === 'too_long') {
    return { code: 'line_too_long', message: `the line is ${raw.bytes} bytes, above the limit of ${limits.maxLineBytes} bytes (ATELIER_DATA_MAX_LINE_BYTES); shorten the sample or its images` };
  }
  return { code: 'line_invalid_utf8', message: `the line is not valid UTF-8 (first bad byte at byte ${raw.offset}); re-save the file as UTF-8` };
}

function countSafely(count: TokenCounter, sample: Obj, format: DatasetFormat, problems: LineProblem[]): { tokens: number; trained: number } | null {
  try {
    return count(sample, format);
  } catch (err) {
    // The tokenizer is another part's code: any failure on one line is that line's problem.
    const message = err instanceof Error ? err.message : excerpt(err);
    problems.push({ code: 'tokenize_failed', message: `the tokenizer could not encode this sample: ${message}` });
    return null;
  }
}

async function checkFileSize(path: string, role: 'training' | 'validation', limits: DataLimits): Promise<'unreadable' | { bytes: number; problem: LineProblem | null }> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) return 'unreadable';
    size = s.size;
  } catch (err) {
    if (isErrno(err)) return 'unreadable';
    throw err;
  }
  const max = role === 'validation' ? limits.maxValidationFileBytes : limits.maxFileBytes;
  if (size <= max) return { bytes: size, problem: null };
  return {
    bytes: size,
    problem: { code: 'file_too_large', message: `${path} is ${size} bytes; a ${role} file may be at most ${max} bytes${role === 'training' ? ' (split it with `atelier data split`)' : ''}` },
  };
}

async function withUnreadable(report: FileReport, path: string): Promise<FileReport> {
  let why = 'it does not exist';
  try {
    const s = await stat(path);
    why = s.isDirectory() ? 'it is a directory, not a JSONL file' : 'it is not a regular file';
  } catch (err) {
    if (!isErrno(err)) throw err;
    if (err.code !== 'ENOENT') why = err.message;
  }
  report.error_count = 1;
  report.errors.push({ file: path, line: 0, code: 'file_unreadable', message: `cannot read ${path}: ${why}` });
  return report;
}

function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}
