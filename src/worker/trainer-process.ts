/**
 * One trainer run: `python -m trainer.train --config FILE` (or another recipe module with the same
 * protocol, e.g. trainer.train_classifier), or with several ranks `python -m torch.distributed.run
 * --standalone --nproc-per-node N -m trainer.train --config FILE`, whose rank 0 alone writes
 * events. Its stdout is read as protocol messages in order, stderr kept as a tail for error
 * reports. The run is its own process group (torchrun and every rank): stop() sends SIGTERM to the
 * whole group (every rank checkpoints at the same step and exits) and, if it has not exited after
 * the grace period, SIGKILL; once the launcher has exited, any rank left is killed too. On Linux
 * the launcher is started with PR_SET_PDEATHSIG=SIGKILL (and each rank sets it towards torchrun,
 * trainer/distributed.py), so a worker that dies (even by SIGKILL) takes every rank with it and
 * the job is never trained twice at once when another worker resumes it.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseTrainerLine, type TrainerMessage } from './trainer-messages.ts';
import { repoRoot } from '../models/index.ts';

export type TrainerExit = { code: number | null; signal: NodeJS.Signals | null; stderrTail: string };
export type TrainerHandle = { exited: Promise<TrainerExit>; stop(): void; pid: number | undefined };
export type TrainerLaunch = {
  /** The recipe module (default trainer.train). */
  module?: string;
  /** Ranks of the run: more than 1 launches torchrun with that many processes. */
  ranks?: number;
  /** Seconds between stop()'s SIGTERM and the SIGKILL of every process left. */
  stopGraceS?: number;
};

// Sets the parent-death signal (prctl(PR_SET_PDEATHSIG=1, SIGKILL=9)) then becomes the trainer (argv[1] = its module).
const linuxLauncher = [
  'import ctypes, os, sys',
  "ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)",
  "os.execv(sys.executable, [sys.executable, '-m', sys.argv[1]] + sys.argv[2:])",
].join('\n');

/** The Python module and its arguments: the recipe itself, or torchrun running it on `ranks` processes. */
export function trainerCommand(module: string, configPath: string, ranks: number, stopGraceS: number): string[] {
  const recipe = ['--config', configPath];
  if (ranks <= 1) return [module, ...recipe];
  return ['torch.distributed.run', '--standalone', `--nproc-per-node=${ranks}`, `--shutdown-timeout=${Math.ceil(stopGraceS)}`, '-m', module, ...recipe];
}

/** Signals the whole process group of the run (torchrun and its ranks); false when none is left. */
function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: every process of the group has exited
  }
}

/** Starts the trainer; `onMessage` is awaited per message, in order. */
export function startTrainer(python: string, configPath: string, onMessage: (m: TrainerMessage) => Promise<void>, log: (line: string) => void, launch: TrainerLaunch = {}): TrainerHandle {
  const [module, ...rest] = trainerCommand(launch.module ?? 'trainer.train', configPath, launch.ranks ?? 1, launch.stopGraceS ?? 300);
  const args = process.platform === 'linux' ? ['-c', linuxLauncher, module!, ...rest] : ['-m', module!, ...rest];
  const child = spawn(python, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' }, detached: true });
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
  let killTimer: NodeJS.Timeout | undefined;
  const exited = new Promise<TrainerExit>((resolve, reject) => {
    child.on('error', reject);
    // A rank the launcher left behind must not train on (and holds stdout open: 'close' waits for it).
    child.on('exit', () => signalGroup(child.pid, 'SIGKILL'));
    child.on('close', (code, signal) => {
      clearTimeout(killTimer);
      // Every message read before exit is handled before the exit is reported.
      chain.then(() => resolve({ code, signal, stderrTail: tail }), reject);
    });
  });
  return {
    exited,
    pid: child.pid,
    stop: () => {
      if (child.exitCode !== null || child.signalCode !== null || killTimer) return;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), (launch.stopGraceS ?? 300) * 1000);
      killTimer.unref();
    },
  };
}
