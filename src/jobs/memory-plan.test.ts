import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deviceMemory, visibleGpuTotals } from './device-memory.ts';
import { adapterParams, baseParams, estimatePeak, memoryRefusal, planMemory, type MemoryDevice } from './memory-plan.ts';

const mistral7b = { dim: 4096, nLayers: 32, hiddenDim: 14336, nHeads: 32, nKvHeads: 8, headDim: 128, vocabSize: 32768, tiedEmbeddings: false };
const gpu: MemoryDevice = { kind: 'cuda', count: 1, strategy: 'ddp' };
const GiB = 2 ** 30;

describe('memory plan', () => {
  it('counts Mistral 7B at 7.25B parameters and a rank-16 adapter at 41.9M', () => {
    assert.equal(baseParams(mistral7b), 7_248_023_552); // the published count of Mistral-7B-v0.3
    assert.equal(adapterParams(mistral7b, 16), 41_943_040);
  });

  it('weights dominate in bf16 and activations grow with seq_len; checkpointing shrinks them', () => {
    const short = estimatePeak(mistral7b, { seqLen: 1024, batchSize: 1, loraRank: 16 }, gpu, 0);
    const long = estimatePeak(mistral7b, { seqLen: 8192, batchSize: 1, loraRank: 16 }, gpu, 0);
    const ckpt = estimatePeak(mistral7b, { seqLen: 8192, batchSize: 1, loraRank: 16 }, gpu, 32);
    assert.equal(short.weights, baseParams(mistral7b) * 2);
    assert.ok(long.activations > 7 * short.activations && long.activations < 9 * short.activations);
    assert.ok(ckpt.total < long.total / 2);
  });

  it('picks no checkpointing, the fewest blocks that fit, or refuses with the numbers', () => {
    const job = { seqLen: 8192, batchSize: 1, loraRank: 16 };
    const none = estimatePeak(mistral7b, job, gpu, 0).total;
    const all = estimatePeak(mistral7b, job, gpu, 32).total;
    assert.equal(planMemory(mistral7b, job, gpu, none / 0.9 + 1, 0.9).checkpointLayers, 0);
    const mid = planMemory(mistral7b, job, gpu, (none + all) / 2 / 0.9, 0.9);
    assert.ok(mid.fits && mid.checkpointLayers > 0 && mid.checkpointLayers < 32);
    assert.ok(estimatePeak(mistral7b, job, gpu, mid.checkpointLayers - 1).total > mid.usableBytes);
    const tooSmall = planMemory(mistral7b, job, gpu, 16 * GiB, 0.9);
    assert.equal(tooSmall.fits, false);
    assert.match(memoryRefusal(tooSmall, job, gpu), /needs about 19\.\d GiB on one cuda device .* but 14\.4 GiB is usable .* Lower seq_len \(now 8192\)/);
  });

  it('FSDP2 shards the frozen base; DDP keeps a full replica and splits the batch', () => {
    const job = { seqLen: 4096, batchSize: 8, loraRank: 16 };
    const ddp = estimatePeak(mistral7b, job, { kind: 'cuda', count: 8, strategy: 'ddp' }, 0);
    const fsdp = estimatePeak(mistral7b, job, { kind: 'cuda', count: 8, strategy: 'fsdp2' }, 0);
    const one = estimatePeak(mistral7b, job, gpu, 0);
    assert.equal(ddp.weights, one.weights);
    assert.ok(fsdp.weights < one.weights / 4);
    assert.ok(ddp.activations < one.activations / 7);
  });
});

describe('device memory', () => {
  it('reads CUDA_VISIBLE_DEVICES and cuda:N', () => {
    assert.deepEqual(visibleGpuTotals([80, 40, 24], 'auto', undefined), [80, 40, 24]);
    assert.deepEqual(visibleGpuTotals([80, 40, 24], 'auto', '2,0'), [24, 80]);
    assert.deepEqual(visibleGpuTotals([80, 40, 24], 'cuda:1', undefined), [40]);
    assert.deepEqual(visibleGpuTotals([80, 40, 24], 'cuda', 'GPU-uuid'), [80, 40, 24]);
  });

  it('the setting wins; CPU is host RAM', async () => {
    assert.deepEqual(await deviceMemory({ device: 'cpu', deviceMemoryGib: 2 }), { kind: 'cpu', bytes: 2 * GiB, source: 'setting' });
    const cpu = await deviceMemory({ device: 'cpu', deviceMemoryGib: 0 });
    assert.equal(cpu.source, 'host RAM');
    assert.ok(cpu.bytes > 0);
  });
});
