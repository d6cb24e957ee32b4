/**
 * Estimates shown in a job's `metadata`: tokens from the real tokenized data, duration from the
 * measured throughput of the base model on this kind of device, cost from the configured price, and
 * the start time from the queue ahead.
 */
import type { TrainingPlan } from './hyperparameters.ts';

/**
 * Prior throughput before any job of a model finished on a device: a training step costs about
 * 6 × params FLOPs per token (forward 2, backward 4; LoRA still back-propagates through the frozen
 * weights), at a sustained rate per device kind. CPU: tiny-mistral (8.9M params) trained at 983
 * tokens/s end to end (40 steps × 256 tokens, checkpoints included) on the 2-core dev machine, i.e.
 * ~52 GFLOP/s, so 50e9. CUDA: ~40% of an H100's ~990 TFLOP/s dense bf16 (not measured here).
 */
const priorFlopsPerSecond: Record<string, number> = { cpu: 50e9, cuda: 400e12, mps: 2e12 };

/** Seconds of process start, model load and final adapter export that every job pays. */
const startupOverheadSeconds = 10;

/** Device kind used as the throughput key: "cuda:1" → "cuda", "auto"/unknown → "cpu". */
export function deviceKind(device: string): string {
  const kind = device.split(':')[0]?.toLowerCase() ?? 'cpu';
  return kind in priorFlopsPerSecond ? kind : 'cpu';
}

/** Prior tokens/s for a model of `params` parameters on a device kind. */
export function priorTokensPerSecond(params: number, device: string): number {
  const flops = priorFlopsPerSecond[deviceKind(device)] ?? priorFlopsPerSecond.cpu;
  return flops / (6 * Math.max(params, 1));
}

export type JobEstimate = {
  data_tokens: number;
  train_tokens_per_step: number;
  train_tokens: number;
  epochs: number;
  training_steps: number;
  expected_duration_seconds: number;
  cost: number;
  cost_currency: string;
  /** Where the tokens/s came from: "measured" (finished jobs) or "prior". */
  throughput_source: 'measured' | 'prior';
  tokens_per_second: number;
};

export type EstimateInput = {
  plan: TrainingPlan;
  tokensPerSecond: number;
  throughputSource: 'measured' | 'prior';
  pricePerGpuHour: number;
  currency: string;
};

/**
 * duration = the tokens the device processes (steps × tokens per step, padding and prompts included:
 * the unit throughput is measured in) / tokens_per_s + overhead; cost = price per device-hour ×
 * duration. `train_tokens` is what the trainer will report as trained (exact for completion jobs).
 */
export function estimateJob(input: EstimateInput): JobEstimate {
  const { plan } = input;
  const processed = plan.training_steps * plan.train_tokens_per_step;
  const seconds = Math.ceil(processed / input.tokensPerSecond) + startupOverheadSeconds;
  return {
    data_tokens: plan.data_tokens,
    train_tokens_per_step: plan.train_tokens_per_step,
    train_tokens: plan.train_tokens,
    epochs: plan.epochs,
    training_steps: plan.training_steps,
    expected_duration_seconds: seconds,
    cost: Math.round(((input.pricePerGpuHour * seconds) / 3600) * 1e4) / 1e4,
    cost_currency: input.currency,
    throughput_source: input.throughputSource,
    tokens_per_second: Math.round(input.tokensPerSecond * 10) / 10,
  };
}

/** One job waiting for or holding a device, in queue order. */
export type QueuedWork = {
  id: string;
  /** Seconds still to run: remaining for a running job, the whole estimate for a waiting one. */
  remainingSeconds: number;
  running: boolean;
};

/**
 * Start times of waiting jobs when `slots` devices take work in queue order: each waiting job goes
 * to the slot that frees first. Running jobs occupy slots from `now`.
 */
export function estimateStartTimes(queue: QueuedWork[], slots: number, now: number): Map<string, number> {
  const free = Array.from({ length: Math.max(1, slots) }, () => now);
  const running = queue.filter((w) => w.running);
  running.forEach((w, i) => {
    const slot = i % free.length;
    free[slot] = (free[slot] ?? now) + w.remainingSeconds;
  });
  const starts = new Map<string, number>();
  for (const w of queue.filter((q) => !q.running)) {
    const slot = free.indexOf(Math.min(...free));
    const at = free[slot] ?? now;
    starts.set(w.id, Math.round(at));
    free[slot] = at + w.remainingSeconds;
  }
  return starts;
}
