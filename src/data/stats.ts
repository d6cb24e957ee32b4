/**
 * Dataset statistics, accumulated over the valid samples of a file. Token counting is a pluggable
 * step (a TokenCounter built from src/tokenizer), so the statistics work without a tokenizer.
 */
import type { ChatCounts } from './chat-rules.ts';
import type { Obj } from './message-rules.ts';
import type { DatasetFormat } from './validate-line.ts';

/** Counts the tokens of one valid sample: all tokens, and those trained (mask 1). */
export type TokenCounter = (sample: Obj, format: DatasetFormat) => { tokens: number; trained: number };

export type DatasetStats = {
  samples: number;
  sample_bytes: number;
  chat_samples: number;
  classifier_samples: number;
  turns: number;
  assistant_turns: number;
  assistant_turns_trained: number;
  tool_calls: number;
  images: number;
  longest_sample: { line: number; bytes: number } | null;
  /** Null when no tokenizer was given. */
  tokens: number | null;
  trained_tokens: number | null;
  longest_sample_tokens: { line: number; tokens: number } | null;
  /** Classifier label counts: target → label → samples. */
  labels: Record<string, Record<string, number>>;
};

/** Empty statistics; `withTokens` makes the token fields start at 0 instead of null. */
export function emptyStats(withTokens: boolean): DatasetStats {
  return {
    samples: 0, sample_bytes: 0, chat_samples: 0, classifier_samples: 0, turns: 0, assistant_turns: 0,
    assistant_turns_trained: 0, tool_calls: 0, images: 0, longest_sample: null,
    tokens: withTokens ? 0 : null, trained_tokens: withTokens ? 0 : null, longest_sample_tokens: null, labels: {},
  };
}

export type SampleFacts = {
  line: number;
  bytes: number;
  format: DatasetFormat;
  counts: ChatCounts | null;
  labels: Map<string, string[]> | null;
  tokens: { tokens: number; trained: number } | null;
};

/** Adds one valid sample to the statistics. */
export function addSample(stats: DatasetStats, s: SampleFacts): void {
  stats.samples += 1;
  stats.sample_bytes += s.bytes;
  if (!stats.longest_sample || s.bytes > stats.longest_sample.bytes) stats.longest_sample = { line: s.line, bytes: s.bytes };
  if (s.format === 'chat') stats.chat_samples += 1;
  else stats.classifier_samples += 1;
  if (s.counts) {
    stats.turns += s.counts.messages;
    stats.assistant_turns += s.counts.assistantTurns;
    stats.assistant_turns_trained += s.counts.trainedTurns;
    stats.tool_calls += s.counts.toolCalls;
    stats.images += s.counts.images;
  }
  for (const [target, list] of s.labels ?? []) {
    const row = (stats.labels[target] ??= {});
    for (const label of list) row[label] = (row[label] ?? 0) + 1;
  }
  if (s.tokens && stats.tokens !== null && stats.trained_tokens !== null) {
    stats.tokens += s.tokens.tokens;
    stats.trained_tokens += s.tokens.trained;
    if (!stats.longest_sample_tokens || s.tokens.tokens > stats.longest_sample_tokens.tokens) {
      stats.longest_sample_tokens = { line: s.line, tokens: s.tokens.tokens };
    }
  }
}
