/**
 * Validating a job's files: every line of every file through the dataset validator, tokens counted
 * with the base model's own tokenizer. Decides FAILED_VALIDATION (with the file and line of the
 * first problem, and what to change) or hands back the real token counts the estimate uses.
 */
import { createHash } from 'node:crypto';
import { validateDatasetFile, validateIntoShard, type ClassifierTarget, type FileReport, type TokenCounter } from '../data/index.ts';

/** One file of a job, readable on this machine; `sha256` is the hash of its bytes. */
export type JobFile = { fileId: string; filename: string; path: string; role: 'training' | 'validation'; sha256: string };

/**
 * Where validated reports are kept between jobs. A report depends only on the bytes, the tokenizer,
 * the format, the role and the classifier targets, so a second job over the same file reuses it.
 */
export type ReportCache = { get(key: string): Promise<FileReport | null>; put(key: string, report: FileReport): Promise<void> };

/** The cache key of one file's report under the given tokenizer and options. */
function reportCacheKey(f: JobFile, tokenizerSha256: string, jobType: string, targets: ClassifierTarget[] | undefined, imagesAllowed: boolean): string {
  // v2: image container checks (image-bytes.ts) and the text-only model check changed what a report says.
  const inputs = JSON.stringify({ v: 2, file: f.sha256, tokenizer: tokenizerSha256, jobType, role: f.role, targets: targets ?? null, imagesAllowed });
  return createHash('sha256').update(inputs).digest('hex');
}

export type FileCounts = { fileId: string; lines: number; validLines: number; tokens: number; trainedTokens: number };

export type ValidationOutcome =
  | { ok: true; files: FileCounts[]; dataTokens: number; skippedLines: number }
  | { ok: false; message: string; param: string | null };

/**
 * `invalid_sample_skip_percentage` is a fraction in [0, 1] (the SDK sends 0); values above 1 are read
 * as percents (5 → 5%), since the name says "percentage" and Mistral's docs leave the unit open.
 */
export function allowedInvalidFraction(value: number): number {
  return value > 1 ? Math.min(value, 100) / 100 : Math.max(value, 0);
}

/** Validates every file of a job; never throws for bad data (that is a FAILED_VALIDATION outcome). */
export async function validateJobFiles(
  files: JobFile[],
  opts: {
    count: TokenCounter; jobType: 'completion' | 'classifier'; invalidSampleSkipPercentage: number; classifierTargets?: ClassifierTarget[];
    cache?: ReportCache; tokenizerSha256?: string;
    /** False when the base model cannot read images: any image then refuses the job, naming its line. */
    imagesAllowed?: boolean;
    /** Completion jobs: write each file's token shard while validating it (the worker then reuses it). */
    shards?: { dataDir: string; tokenizerPath: string };
  },
): Promise<ValidationOutcome> {
  const allowed = allowedInvalidFraction(opts.invalidSampleSkipPercentage);
  const imagesAllowed = opts.imagesAllowed ?? true;
  const counts: FileCounts[] = [];
  let skipped = 0;
  for (const f of files) {
    const key = opts.cache && opts.tokenizerSha256 ? reportCacheKey(f, opts.tokenizerSha256, opts.jobType, opts.classifierTargets, imagesAllowed) : null;
    let report = key ? await opts.cache?.get(key) : null;
    if (!report) {
      const options = { role: f.role, classifierTargets: opts.classifierTargets, countTokens: opts.count, limits: { imagesAllowed } };
      report = opts.shards && opts.jobType === 'completion'
        ? await validateIntoShard({ ...opts.shards, sourcePath: f.path, sourceSha256: f.sha256 }, options)
        : await validateDatasetFile(f.path, { ...options, format: opts.jobType === 'classifier' ? 'classifier' : 'chat' });
      if (key) await opts.cache?.put(key, report);
    }
    const verdict = judgeFile(f, report, allowed);
    if (verdict) return verdict;
    skipped += report.lines - report.valid_lines;
    counts.push({ fileId: f.fileId, lines: report.lines, validLines: report.valid_lines, tokens: report.stats.tokens ?? 0, trainedTokens: report.stats.trained_tokens ?? 0 });
  }
  const training = counts.filter((_, i) => files[i]?.role === 'training');
  return { ok: true, files: counts, dataTokens: training.reduce((s, c) => s + c.tokens, 0), skippedLines: skipped };
}

function judgeFile(f: JobFile, report: FileReport, allowed: number): ValidationOutcome | null {
  const where = `${f.filename} (${f.fileId})`;
  const fileLevel = report.errors.find((e) => e.line === 0);
  if (fileLevel) return { ok: false, message: `${where}: ${fileLevel.code}: ${fileLevel.message}`, param: f.fileId };
  // Images the model cannot read are a job/model mismatch, not bad lines to skip.
  const textOnly = report.errors.find((e) => e.code === 'image_model_text_only');
  if (textOnly) return { ok: false, message: `${where} line ${textOnly.line}: ${textOnly.code}: ${textOnly.message}`, param: f.fileId };
  const invalid = report.lines - report.valid_lines;
  if (report.valid_lines === 0) {
    const first = report.errors[0];
    const why = first ? ` (line ${first.line}: ${first.code}: ${first.message})` : '';
    return { ok: false, message: `${where} has no valid sample${why}`, param: f.fileId };
  }
  if (invalid === 0) return null;
  const fraction = invalid / report.lines;
  const first = report.errors[0];
  if (f.role === 'validation' || fraction > allowed) {
    const rule = f.role === 'validation' ? 'validation files must be fully valid' : `invalid_sample_skip_percentage allows ${(allowed * 100).toFixed(1)}%`;
    return {
      ok: false,
      message: `${where} line ${first?.line ?? '?'}: ${first?.code ?? 'invalid'}: ${first?.message ?? 'invalid sample'} (${invalid} of ${report.lines} lines invalid; ${rule})`,
      param: f.fileId,
    };
  }
  return null;
}
