/**
 * One dataset line, from text to verdict: JSON parse, format detection (chat or classifier) and
 * the format's rules. Never throws on any input.
 */
import { excerpt, type LineProblem } from './errors.ts';
import { checkChatSample, type ChatCounts, type ChatLimits } from './chat-rules.ts';
import { checkClassifierSample, type ClassifierTarget } from './classifier-rules.ts';
import { isObject, Problems, type Obj } from './message-rules.ts';

export type DatasetFormat = 'chat' | 'classifier';
export type FormatOption = DatasetFormat | 'auto';

export type LineOptions = { format: FormatOption; targets?: ClassifierTarget[]; limits: ChatLimits };

export type LineVerdict = {
  format: DatasetFormat | null;
  problems: LineProblem[];
  /** The parsed object (null when the line is not a JSON object). */
  sample: Obj | null;
  counts: ChatCounts | null;
  labels: Map<string, string[]> | null;
};

/** Which format a parsed line is in: classifier lines carry `labels` or a bare `text`. */
export function detectFormat(sample: Obj): DatasetFormat {
  return 'labels' in sample || ('text' in sample && !('messages' in sample)) ? 'classifier' : 'chat';
}

/** Validates one line of text (without its newline). */
export function validateLine(text: string, opts: LineOptions): LineVerdict {
  const verdict: LineVerdict = { format: null, problems: [], sample: null, counts: null, labels: null };
  if (text.trim() === '') {
    verdict.problems.push({ code: 'line_blank', message: 'the line is empty; remove blank lines (each line must be one JSON sample)' });
    return verdict;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    verdict.problems.push({ code: 'line_invalid_json', message: `the line is not valid JSON (${err.message}); line starts ${excerpt(text)}` });
    return verdict;
  }
  if (!isObject(parsed)) {
    verdict.problems.push({ code: 'line_not_object', message: `the line must be a JSON object like {"messages": [...]}; found ${excerpt(parsed)}` });
    return verdict;
  }
  const format = opts.format === 'auto' ? detectFormat(parsed) : opts.format;
  const p = new Problems();
  verdict.sample = parsed;
  verdict.format = format;
  if (format === 'chat') verdict.counts = checkChatSample(parsed, opts.limits, p);
  else verdict.labels = checkClassifierSample(parsed, opts.targets, opts.limits, p);
  verdict.problems = p.list;
  return verdict;
}
