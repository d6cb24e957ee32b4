/**
 * A worker: claims one job at a time from the shared database and runs it on its devices (one
 * rank per device, devices.ts; it claims only jobs needing no more devices than it has), until stopped. `atelier serve` embeds one; `atelier worker` runs one on another host.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ensureBuiltInModels } from '../models/index.ts';
import type { Settings } from '../settings/index.ts';
import { claimJob, type Store } from '../store/index.ts';
import { runClaimedJob, type WorkerContext } from './run-job.ts';
import { countGpus, workerDevices, type WorkerDevices } from './devices.ts';

export type WorkerOptions = {
  store: Store;
  settings: Settings;
  workerId?: string;
  log?: (message: string) => void;
  /** The devices to advertise; default: from the settings and the GPUs PyTorch sees (devices.ts). */
  devices?: WorkerDevices;
};

export type RunningWorker = { workerId: string; stop(): Promise<void> };

/** A worker id unique across hosts and restarts: host, pid and random bits. */
export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Starts the claim loop; `stop()` checkpoints and releases a running job, then resolves. */
export function startWorker(opts: WorkerOptions): RunningWorker {
  const abort = new AbortController();
  const ctx: WorkerContext = {
    store: opts.store, settings: opts.settings, workerId: opts.workerId ?? newWorkerId(), signal: abort.signal,
    heartbeatMs: opts.settings.workerHeartbeatMs, log: opts.log ?? ((m) => console.error(`[worker] ${m}`)),
    devices: opts.devices ?? { kind: 'cpu', count: 1 }, // replaced by the probe below before the first claim
  };
  let wake: (() => void) | null = null;
  const pause = (ms: number) => new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(t);
      resolve();
    };
  });
  const loop = (async () => {
    await ensureBuiltInModels(opts.settings).catch((err: unknown) => ctx.log(`generating the built-in models failed: ${String(err)}`));
    try {
      ctx.devices = opts.devices ?? workerDevices(opts.settings, await countGpus(opts.settings.python));
    } catch (err) {
      return ctx.log(`this worker claims no job: ${err instanceof Error ? err.message : String(err)}`);
    }
    while (!abort.signal.aborted) {
      const now = Date.now();
      const job = await claimJob(ctx.store.db, ctx.workerId, now, now - opts.settings.workerStaleMs, ['completion', 'classifier'], ctx.devices.count).catch((err: unknown) => {
        ctx.log(`claim failed: ${String(err)}`);
        return null;
      });
      if (job) await runClaimedJob(ctx, job).catch((err: unknown) => ctx.log(`job ${job.id}: ${String(err)}`));
      else await pause(opts.settings.workerPollMs);
    }
  })();
  return {
    workerId: ctx.workerId,
    stop: async () => {
      abort.abort();
      wake?.();
      await loop;
    },
  };
}
