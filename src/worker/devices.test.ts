// The worker's device count (what it advertises to claims) and the ranks and command of a run.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ranksForRun, workerDevices } from './devices.ts';
import { trainerCommand } from './trainer-process.ts';

it('counts every visible GPU by default, ATELIER_TRAIN_PROCESSES when set, and CPU gloo ranks on CPU', () => {
  assert.deepEqual(workerDevices({ device: 'auto', trainProcesses: 0 }, 4), { kind: 'cuda', count: 4 });
  assert.deepEqual(workerDevices({ device: 'cuda', trainProcesses: 2 }, 4), { kind: 'cuda', count: 2 });
  assert.deepEqual(workerDevices({ device: 'auto', trainProcesses: 0 }, 0), { kind: 'cpu', count: 1 });
  assert.deepEqual(workerDevices({ device: 'cpu', trainProcesses: 3 }, 8), { kind: 'cpu', count: 3 });
  assert.deepEqual(workerDevices({ device: 'cuda:1', trainProcesses: 0 }, 4), { kind: 'cuda', count: 1 });
});

it('refuses settings that ask for more GPUs than it sees, naming the settings', () => {
  assert.throws(() => workerDevices({ device: 'cuda', trainProcesses: 8 }, 2), /ATELIER_TRAIN_PROCESSES=8 but only 2 GPU\(s\)/);
  assert.throws(() => workerDevices({ device: 'cuda:0', trainProcesses: 2 }, 2), /ATELIER_DEVICE=cuda:0 names one device/);
  assert.throws(() => workerDevices({ device: 'cuda', trainProcesses: 0 }, 0), /sees no GPU/);
});

it('runs as many ranks as devices, no more than the windows of a step unless the job needs them, one for the classifier', () => {
  assert.equal(ranksForRun(4, 'trainer.train', 8), 4);
  assert.equal(ranksForRun(4, 'trainer.train', 2), 2);
  assert.equal(ranksForRun(4, 'trainer.train', 2, 4), 4);
  assert.equal(ranksForRun(4, 'trainer.train_classifier', 8), 1);
});

it('launches torchrun only for several ranks', () => {
  assert.deepEqual(trainerCommand('trainer.train', 'c.json', 1, 300), ['trainer.train', '--config', 'c.json']);
  assert.deepEqual(trainerCommand('trainer.train', 'c.json', 2, 300), [
    'torch.distributed.run', '--standalone', '--nproc-per-node=2', '--shutdown-timeout=300', '-m', 'trainer.train', '--config', 'c.json',
  ]);
});
