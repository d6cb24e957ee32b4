/**
 * One `python -m trainer.train --config FILE` child (or another recipe module with the same
 * protocol, e.g. trainer.train_classifier): its stdout read as protocol messages in order,
 * stderr kept as a tail for error reports, SIGTERM to stop it (it checkpoints and exits). On Linux
 * the child is started with PR_SET_PDEATHSIG=SIGKILL, so a worker that dies (even by SIGKILL)
 * takes its trainer with it and the job is never trained twice at once when another worker resumes it.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseTrainerLine, type TrainerMessage } from './trainer-messages.ts';
import { repoRoot } from '../models/index.ts';

export type TrainerExit = { code: number | null; signal: NodeJS.Signals | null; stderrTail: string };
export type TrainerHandle = { exited: Promise<TrainerExit>; stop(): void; pid: number | undefined };

// Sets the parent-death signal (prctl(PR_SET_PDEATHSIG=1, SIGKILL=9)) then becomes the trainer (argv[1] = its module).
const linuxLauncher = [
  'import ctypes, os, sys',
  "ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)",
  "os.execv(sys.executable, [sys.executable, '-m', sys.argv[1]] + sys.argv[2:])",
].join('\n');

/** Starts the trainer (`module`: the recipe); `onMessage` is awaited per message, in order. */
export function startTrainer(python: string, configPath: string, onMessage: (m: TrainerMessage) => Promise<void>, log: (line: string) => void, module = 'trainer.train'): TrainerHandle {
  const args = process.platform === 'linux' ? ['-c', linuxLauncher, module, '--config', configPath] : ['-m', module, '--config', configPath];
  const child = spawn(python, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  let tail = '';
  child.stderr.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  let chain = Promise.resolve();
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const m = parseTrainerLine(line);
    if (!m) return log(`trainer: ${line}`);
    chain = chain.then(() => onMessage(m));
  });
  const exited = new Promise<TrainerExit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      // Every message read before exit is handled before the exit is reported.
      chain.then(() => resolve({ code, signal, stderrTail: tail }), reject);
    });
  });
  return {
    exited,
    pid: child.pid,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
