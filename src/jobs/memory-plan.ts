/**
 * Memory planning before a job starts: the peak memory of one training device for a LoRA job, from
 * the base model's shape, the LoRA rank, seq_len, the batch and the device. Pure functions; the
 * numbers follow what trainer/ allocates, term by term (docs/trainer.md, "Memory"):
 *
 * - frozen weights: every base parameter in the compute dtype (bf16 on CUDA, fp32 on CPU);
 * - adapters: fp32 weights + fp32 grads + AdamW's two fp32 states = 16 bytes per LoRA parameter;
 * - activations autograd keeps per block and token (counted with saved-tensor hooks on the trainer's
 *   model): the inputs of the two RMSNorms (kept in fp32, they upcast) and their outputs, the
 *   rotated q, sdpa's output and its reshaped copy (3 × q width), the rotated k and v (2 × kv
 *   width), SwiGLU's gate, silu, up and product (4 × hidden), the seven LoRA `x·A` (7 × rank), and
 *   fp32 log-sum-exp and rsqrt rows. RoPE cos/sin add head_dim fp32 per token;
 * - with activation checkpointing a block keeps only its input; one block is recomputed in backward;
 * - the loss (trainer/loss.py) holds one chunk of logits (CHUNK × vocab, fp32; on bf16 also the bf16
 *   logits and probabilities: 6 bytes) plus the final hidden states, their trained-token copy and
 *   the gradient it returns;
 * - backward's own buffers at the last block: the gradient of SwiGLU's product (hidden) and the dim-wide
 *   gradients in and out, per token, while the block's kept tensors are being released.
 *
 * The CPU figures are checked against measured peaks (trainer/tests/test_memory_plan.py, within
 * 15%); the CUDA ones use the same tensor counts in bf16, plus a fixed allowance for the CUDA
 * context and workspaces, and are not measured here.
 */

import type { ModelShape } from '../models/index.ts';

/** The architecture numbers the estimate needs (src/models reads them from params.json / config.json). */
export type { ModelShape };

export type MemoryJob = { seqLen: number; batchSize: number; loraRank: number };

/**
 * Where the job runs: device kind, how many devices share it and how (DDP: a full replica per
 * device, each taking its share of the batch; FSDP2: the frozen base, adapters and optimizer states
 * sharded, one block gathered at a time). One device is today's trainer; several are the torchrun
 * launcher's (docs/trainer.md).
 */
export type MemoryDevice = { kind: 'cuda' | 'cpu'; count: number; strategy: 'ddp' | 'fsdp2' };

/** Positions per logits chunk of the chunked cross-entropy (trainer/loss.py CHUNK; the test checks they agree). */
export const lossChunk = 1024;

/** CUDA context, cuBLAS and compile workspaces per GPU: typical figures (~0.5-1 GiB), not measured here. */
export const cudaRuntimeBytes = 1 * 2 ** 30;

/** The Python + torch process itself on CPU (host RAM is shared with it); ~0.4 GiB measured RSS after import torch. */
export const cpuRuntimeBytes = 0.5 * 2 ** 30;

/** AdamW with fp32 master weights, grads, exp_avg, exp_avg_sq. */
const adapterBytesPerParam = 16;

export type MemoryBreakdown = {
  /** Frozen base weights held on one device. */
  weights: number;
  /** LoRA weights, grads and optimizer states on one device. */
  adapters: number;
  /** Activations kept for backward at the peak. */
  activations: number;
  /** The larger of the loss chunk (end of forward) and backward's own buffers, above the kept activations. */
  transient: number;
  /** Process or CUDA context, fixed per device. */
  runtime: number;
  /** The peak: the sum of the above. */
  total: number;
};

/** Parameters of the base model (the frozen weights). */
export function baseParams(s: ModelShape): number {
  const perLayer = s.dim * s.headDim * (2 * s.nHeads + 2 * s.nKvHeads) + 3 * s.dim * s.hiddenDim + 2 * s.dim;
  return s.nLayers * perLayer + s.dim + (s.tiedEmbeddings ? 1 : 2) * s.vocabSize * s.dim;
}

/** Parameters of the LoRA adapter: A (r × in) and B (out × r) on the seven projections of each block. */
export function adapterParams(s: ModelShape, rank: number): number {
  const q = s.nHeads * s.headDim;
  const kv = s.nKvHeads * s.headDim;
  const inPlusOut = (s.dim + q) * 2 + (s.dim + kv) * 2 + (s.dim + s.hiddenDim) * 3;
  return s.nLayers * rank * inPlusOut;
}

const computeBytes = (d: MemoryDevice) => (d.kind === 'cuda' ? 2 : 4);

/** Bytes one block keeps for backward per token without checkpointing. */
function blockBytesPerToken(s: ModelShape, rank: number, a: number): number {
  const q = s.nHeads * s.headDim;
  const kv = s.nKvHeads * s.headDim;
  const normInputs = 2 * s.dim * 4; // RMSNorm upcasts: its fp32 input is what it keeps
  return normInputs + a * (2 * s.dim + 3 * q + 2 * kv + 4 * s.hiddenDim + 7 * rank) + 4 * (s.nHeads + 2);
}

/** Sequences one device runs per micro-batch: the global batch split over the devices, rounded up. */
export function perDeviceBatch(job: MemoryJob, device: MemoryDevice): number {
  return Math.ceil(job.batchSize / Math.max(1, device.count));
}

/**
 * Peak bytes of one device for the job with the first `checkpointLayers` blocks recomputed in
 * backward (0 = none, nLayers = all; the trainer's `activation_checkpointing`).
 */
export function estimatePeak(s: ModelShape, job: MemoryJob, device: MemoryDevice, checkpointLayers: number): MemoryBreakdown {
  const a = computeBytes(device);
  const n = perDeviceBatch(job, device) * job.seqLen; // tokens per micro-batch on one device
  const k = Math.min(Math.max(0, Math.round(checkpointLayers)), s.nLayers);
  const perToken = blockBytesPerToken(s, job.loraRank, a);
  const block = perToken * n;
  // checkpointed blocks keep their input, the others everything; + the final norm's fp32 input and RoPE's cos/sin
  const kept = (k * s.dim * a + (s.nLayers - k) * perToken + s.dim * 4 + s.headDim * 4) * n;
  const loss = lossChunkBytes(s, Math.min(n, lossChunk), device) + 3 * n * s.dim * a;
  const backward = (s.hiddenDim + 2 * s.dim) * a * n + (k === s.nLayers ? block : 0);
  const shards = device.strategy === 'fsdp2' ? Math.max(1, device.count) : 1;
  const weights = shardedWeights(s, a, shards);
  const adapters = (adapterParams(s, job.loraRank) * adapterBytesPerParam) / shards;
  const runtime = device.kind === 'cuda' ? cudaRuntimeBytes : cpuRuntimeBytes;
  const transient = Math.max(loss, backward);
  return { weights, adapters, activations: kept, transient, runtime, total: weights + adapters + kept + transient + runtime };
}

/** One chunk of logits: fp32 in place on CPU; on bf16 the bf16 matmul output, its fp32 copy and the bf16 probabilities. */
function lossChunkBytes(s: ModelShape, rows: number, device: MemoryDevice): number {
  return rows * s.vocabSize * (device.kind === 'cuda' ? 6 : 4);
}

/** Frozen weights per device: all of them, or under FSDP2 a 1/N shard plus two gathered blocks (current + prefetched). */
function shardedWeights(s: ModelShape, a: number, shards: number): number {
  const all = baseParams(s) * a;
  if (shards === 1) return all;
  const block = (baseParams({ ...s, nLayers: 1, vocabSize: 0 }) - s.dim) * a;
  const gathered = 2 * Math.max(block, s.vocabSize * s.dim * a);
  return all / shards + gathered;
}

export type MemoryPlan = {
  /** Whether the job fits with the chosen checkpointing. */
  fits: boolean;
  /** Blocks to recompute in backward (0 = none); the fewest that fit, or all when nothing fits. */
  checkpointLayers: number;
  /** Peak bytes per device with that choice. */
  peakBytes: number;
  /** Bytes per device the plan may use (device memory × usable fraction). */
  usableBytes: number;
  deviceBytes: number;
  breakdown: MemoryBreakdown;
  withoutCheckpointing: MemoryBreakdown;
  withCheckpointing: MemoryBreakdown;
};

/**
 * Picks activation checkpointing: none when the job fits without it, else the fewest blocks
 * recomputed that make it fit (each block checkpointed trades compute for memory), else all.
 */
export function planMemory(s: ModelShape, job: MemoryJob, device: MemoryDevice, deviceBytes: number, usableFraction: number): MemoryPlan {
  const usable = deviceBytes * usableFraction;
  const without = estimatePeak(s, job, device, 0);
  const all = estimatePeak(s, job, device, s.nLayers);
  let k = 0;
  while (k < s.nLayers && estimatePeak(s, job, device, k).total > usable) k++;
  const breakdown = estimatePeak(s, job, device, k);
  return {
    fits: breakdown.total <= usable, checkpointLayers: k, peakBytes: breakdown.total, usableBytes: usable, deviceBytes,
    breakdown, withoutCheckpointing: without, withCheckpointing: all,
  };
}

export const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** The refusal of a job that cannot fit, with the numbers and what to change. */
export function memoryRefusal(plan: MemoryPlan, job: MemoryJob, device: MemoryDevice): string {
  const b = plan.withCheckpointing;
  const where = device.count > 1 ? `each of ${device.count} ${device.kind} devices (${device.strategy})` : `one ${device.kind} device`;
  return `the job needs about ${gib(b.total)} on ${where} even with activation checkpointing `
    + `(weights ${gib(b.weights)}, adapters and optimizer ${gib(b.adapters)}, activations ${gib(b.activations + b.transient)}, runtime ${gib(b.runtime)}), `
    + `but ${gib(plan.usableBytes)} is usable (${gib(plan.deviceBytes)} × the usable fraction, settings deviceMemoryGib and memoryUsableFraction). `
    + `Lower seq_len (now ${job.seqLen}) or batch_size (now ${job.batchSize}), or run on more or larger devices; docs/trainer.md lists what each model needs.`;
}
