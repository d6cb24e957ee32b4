/**
 * The memory of one training device, for the memory plan: the setting deviceMemoryGib when set,
 * else detected once per process: nvidia-smi's total of the smallest visible GPU when training on
 * CUDA (device cuda/cuda:N, or auto with a GPU present), else this host's RAM. Detection asks
 * nvidia-smi rather than Python so that validation does not wait for `import torch`.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import type { Settings } from '../settings/index.ts';

/** bytes is Infinity when the device is CUDA but nothing says how much it has (no setting, no nvidia-smi). */
export type DeviceMemory = { kind: 'cuda' | 'cpu'; bytes: number; source: 'setting' | 'nvidia-smi' | 'host RAM' | 'unknown' };

const MiB = 2 ** 20;
let gpuTotals: Promise<number[]> | null = null;

/** Total MiB of each GPU nvidia-smi lists (empty without nvidia-smi or GPUs). */
function queryGpus(): Promise<number[]> {
  gpuTotals ??= new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? [] : stdout.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isFinite(n) && n > 0));
    });
  });
  return gpuTotals;
}

/** The GPUs a job may use: CUDA_VISIBLE_DEVICES (numeric indices) narrows the list, cuda:N picks one. */
export function visibleGpuTotals(totals: number[], device: string, visible: string | undefined): number[] {
  let out = totals;
  if (visible !== undefined && /^\s*\d+(\s*,\s*\d+)*\s*$/.test(visible)) out = visible.split(',').map((i) => totals[Number(i)]).filter((t): t is number => t !== undefined);
  const pick = /^cuda:(\d+)$/.exec(device);
  if (pick) out = out[Number(pick[1])] === undefined ? [] : [out[Number(pick[1])] as number];
  return out;
}

/** The device the plan is for and its memory in bytes. */
export async function deviceMemory(settings: Pick<Settings, 'device' | 'deviceMemoryGib'>, env: NodeJS.ProcessEnv = process.env): Promise<DeviceMemory> {
  const gpus = settings.device === 'cpu' ? [] : visibleGpuTotals(await queryGpus(), settings.device, env.CUDA_VISIBLE_DEVICES);
  const kind = settings.device.startsWith('cuda') || gpus.length > 0 ? 'cuda' : 'cpu';
  if (settings.deviceMemoryGib > 0) return { kind, bytes: settings.deviceMemoryGib * 2 ** 30, source: 'setting' };
  if (kind === 'cuda' && gpus.length > 0) return { kind, bytes: Math.min(...gpus) * MiB, source: 'nvidia-smi' };
  if (kind === 'cuda') return { kind, bytes: Number.POSITIVE_INFINITY, source: 'unknown' };
  return { kind: 'cpu', bytes: os.totalmem(), source: 'host RAM' };
}
