/**
 * Why a trainer ended without finishing, in words a user can act on, and whether restarting it
 * from its last checkpoint can help: a signal (the out-of-memory killer's SIGKILL most often) or a
 * crash can; a config error the trainer reported cannot, the same config fails the same way.
 */
import type { TrainerExit } from './trainer-process.ts';
import { withoutPaths } from '../models/index.ts';

/** What the trainer itself reported before it exited, if anything (an `error` message). */
export type ReportedError = { message: string; kind: string } | null;

export type TrainerFailure = { retryable: boolean; reason: string };

const signalHints: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: 'likely the out-of-memory killer: lower batch_size or seq_len, or give the worker more memory',
  SIGSEGV: 'a native crash in PyTorch or a driver',
  SIGBUS: 'a memory or disk error',
  SIGABRT: 'a native library aborted',
};

/** The last few non-empty stderr lines, without paths, joined for one message. */
export function stderrSummary(tail: string, lines = 3): string {
  const last = tail.split('\n').map((l) => l.trim()).filter(Boolean).slice(-lines);
  return withoutPaths(last.join(' | ')).slice(0, 600);
}

/** Classifies an exit that produced no `done` (and was neither cancelled nor stopped by its worker). */
export function describeFailure(exit: TrainerExit, reported: ReportedError): TrainerFailure {
  if (reported) return { retryable: reported.kind !== 'config', reason: withoutPaths(`${reported.message} (${reported.kind})`) };
  const stderr = stderrSummary(exit.stderrTail);
  const tail = stderr ? `; last output: ${stderr}` : '';
  if (exit.signal) {
    const hint = signalHints[exit.signal];
    return { retryable: true, reason: `the trainer was killed by ${exit.signal}${hint ? ` (${hint})` : ''}${tail}` };
  }
  return { retryable: true, reason: `the trainer exited with code ${exit.code} without finishing${tail}` };
}
