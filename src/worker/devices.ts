/**
 * How many devices (trainer ranks) this worker runs a job on, decided once when it starts and
 * advertised with every claim: ATELIER_TRAIN_PROCESSES, else every GPU PyTorch sees (honouring
 * CUDA_VISIBLE_DEVICES), else 1 on CPU. On CPU the ranks are gloo processes (for tests).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { repoRoot, resolvePython } from '../models/index.ts';
import type { Settings } from '../settings/index.ts';

export type WorkerDevices = { kind: 'cuda' | 'cpu' | 'other'; count: number };

const probe = 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)';

/** GPUs PyTorch sees; 0 without an NVIDIA driver (checked first, so a CPU machine skips importing torch). */
export async function countGpus(python: string): Promise<number> {
  if (process.platform === 'linux' && !existsSync('/dev/nvidiactl')) return 0;
  try {
    const { stdout } = await promisify(execFile)(resolvePython(python), ['-c', probe], { cwd: repoRoot, timeout: 120_000 });
    return Number.parseInt(stdout.trim(), 10) || 0;
  } catch {
    return 0;
  }
}

/** The worker's devices from its settings and the GPUs it sees; throws, naming the settings, when they disagree. */
export function workerDevices(settings: Pick<Settings, 'device' | 'trainProcesses'>, gpus: number): WorkerDevices {
  const { device, trainProcesses: n } = settings;
  if (device === 'cpu' || (device === 'auto' && gpus === 0)) return { kind: 'cpu', count: n || 1 };
  if (device !== 'auto' && device !== 'cuda') {
    if (n > 1) throw new Error(`ATELIER_DEVICE=${device} names one device but ATELIER_TRAIN_PROCESSES=${n}: set ATELIER_DEVICE=cuda (CUDA_VISIBLE_DEVICES chooses the GPUs) or ATELIER_TRAIN_PROCESSES=1`);
    return { kind: device.startsWith('cuda') ? 'cuda' : 'other', count: 1 };
  }
  if (gpus === 0) throw new Error('ATELIER_DEVICE=cuda but PyTorch sees no GPU: check the driver and CUDA_VISIBLE_DEVICES, or set ATELIER_DEVICE=cpu');
  if (n > gpus) throw new Error(`ATELIER_TRAIN_PROCESSES=${n} but only ${gpus} GPU(s) are visible: lower it, or 0 for all of them`);
  return { kind: 'cuda', count: n || gpus };
}

/**
 * Ranks of one run: the worker's devices, but no more than the step's packed windows (each rank
 * trains a share of them; an idle rank would only add a copy of the model) unless the job needs
 * more devices, and 1 for a recipe that runs in one process (the classifier's).
 */
export function ranksForRun(devices: number, recipe: string, windowsPerStep: number, required = 1): number {
  if (recipe !== 'trainer.train') return 1;
  return Math.max(1, required, Math.min(devices, windowsPerStep));
}
