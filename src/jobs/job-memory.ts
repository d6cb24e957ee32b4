/**
 * The memory plan of one job on this host's training device: validation stores it with the estimate
 * (and refuses a job that cannot fit), the worker turns its checkpointing choice into the trainer's
 * `activation_checkpointing`. Today's trainer runs a job on one device.
 */
import type { BaseModel } from '../models/index.ts';
import type { Settings } from '../settings/index.ts';
import { deviceMemory } from './device-memory.ts';
import { memoryRefusal, planMemory, type MemoryDevice, type MemoryJob, type MemoryPlan } from './memory-plan.ts';

/** What a job's stored estimate says about memory (GiB, rounded to 0.1; device_gib null when unknown). */
export type MemoryEstimate = {
  peak_gib: number;
  device_gib: number | null;
  device: 'cuda' | 'cpu';
  activation_checkpointing: number;
  peak_without_checkpointing_gib: number;
  peak_with_checkpointing_gib: number;
};

export type JobMemory = { plan: MemoryPlan; job: MemoryJob; device: MemoryDevice; estimate: MemoryEstimate; refusal: string | null };

const round = (bytes: number) => Math.round((bytes / 2 ** 30) * 10) / 10;

/** The plan for `job` (seq_len, batch_size, lora_rank as planned) on this host's device. */
export async function planJobMemory(settings: Pick<Settings, 'device' | 'deviceMemoryGib' | 'memoryUsableFraction'>, model: BaseModel, job: MemoryJob): Promise<JobMemory> {
  const mem = await deviceMemory(settings);
  const device: MemoryDevice = { kind: mem.kind, count: 1, strategy: 'ddp' };
  const plan = planMemory(model.shape, job, device, mem.bytes, settings.memoryUsableFraction);
  const estimate: MemoryEstimate = {
    peak_gib: round(plan.peakBytes), device_gib: Number.isFinite(mem.bytes) ? round(mem.bytes) : null, device: mem.kind,
    activation_checkpointing: plan.checkpointLayers,
    peak_without_checkpointing_gib: round(plan.withoutCheckpointing.total), peak_with_checkpointing_gib: round(plan.withCheckpointing.total),
  };
  return { plan, job, device, estimate, refusal: plan.fits ? null : memoryRefusal(plan, job, device) };
}

/** One line for a dry run's details. */
export function describeMemory(m: MemoryEstimate): string {
  const of = m.device_gib === null ? '' : ` of ${m.device_gib} GiB`;
  const ac = m.activation_checkpointing === 0 ? 'no activation checkpointing' : `activation checkpointing on ${m.activation_checkpointing} blocks`;
  return `Estimated peak memory ${m.peak_gib} GiB${of} per ${m.device} device, ${ac}.`;
}
