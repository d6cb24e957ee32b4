// Pure parts of src/jobs: the state machine, hyperparameter defaults and the OpenAI mapping, the
// training plan from token counts, estimates, queue start times, fine-tuned model ids, requests.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allowedInvalidFraction, canTransition, dedupeKey, estimateJob, estimateStartTimes, fineTunedModelId, fromMistralCreate,
  fromOpenAICreate, fromOpenAIHyperparameters, JobError, normalizeHyperparameters, planTraining, priorTokensPerSecond, toOpenAIStatus,
} from './index.ts';

describe('jobs: state machine', () => {
  it('allows the documented lifecycle and refuses leaving a terminal status', () => {
    const path = ['QUEUED', 'STARTED', 'VALIDATING', 'VALIDATED', 'RUNNING', 'SUCCESS'] as const;
    for (let i = 1; i < path.length; i++) assert.ok(canTransition(path[i - 1]!, path[i]!), `${path[i - 1]} → ${path[i]}`);
    assert.ok(canTransition('RUNNING', 'CANCELLATION_REQUESTED') && canTransition('CANCELLATION_REQUESTED', 'CANCELLED'));
    assert.ok(!canTransition('SUCCESS', 'RUNNING') && !canTransition('VALIDATED', 'SUCCESS'));
    assert.equal(toOpenAIStatus('VALIDATING'), 'validating_files');
    assert.equal(toOpenAIStatus('FAILED_VALIDATION'), 'failed');
    assert.equal(toOpenAIStatus('VALIDATED'), 'queued');
  });
});

describe('jobs: hyperparameters and plan', () => {
  it("fills Mistral's defaults and maps OpenAI's fields", () => {
    const h = normalizeHyperparameters({ training_steps: 10 });
    assert.deepEqual([h.learning_rate, h.weight_decay, h.warmup_fraction, h.lora_rank, h.batch_size], [1e-4, 0.1, 0.05, 16, 1]);
    const o = fromOpenAIHyperparameters({ n_epochs: 3, batch_size: 'auto', learning_rate_multiplier: 2 });
    assert.deepEqual([o.epochs, o.batch_size, o.learning_rate], [3, 1, 2e-4]);
  });

  it('derives steps from epochs, epochs from steps, and caps seq_len at the model context', () => {
    const byEpochs = planTraining(normalizeHyperparameters({ epochs: 2, seq_len: 100 }), 1000, 4096);
    assert.deepEqual([byEpochs.training_steps, byEpochs.train_tokens, byEpochs.epochs], [20, 2000, 2]);
    const bySteps = planTraining(normalizeHyperparameters({ training_steps: 10, seq_len: 128 }), 989, 4096);
    assert.equal(bySteps.epochs, Math.round((1280 / 989) * 1e4) / 1e4);
    assert.equal(planTraining(normalizeHyperparameters({}), 10, 512).seq_len, 512);
    assert.throws(() => planTraining(normalizeHyperparameters({ seq_len: 8192 }), 10, 512), /seq_len 8192 exceeds/);
  });

  it('reads invalid_sample_skip_percentage as a fraction, or as percents above 1', () => {
    assert.equal(allowedInvalidFraction(0.2), 0.2);
    assert.equal(allowedInvalidFraction(5), 0.05);
  });
});

describe('jobs: estimates', () => {
  it('duration is train tokens over tokens/s plus overhead; cost is price × hours', () => {
    const plan = planTraining(normalizeHyperparameters({ training_steps: 100, seq_len: 1000 }), 50_000, 4096);
    const e = estimateJob({ plan, tokensPerSecond: 1000, throughputSource: 'measured', pricePerGpuHour: 3.6, currency: 'EUR' });
    assert.equal(e.expected_duration_seconds, 110);
    assert.equal(e.cost, 0.11);
    assert.equal(e.cost_currency, 'EUR');
    assert.ok(priorTokensPerSecond(1e6, 'cuda:0') > priorTokensPerSecond(1e6, 'cpu'));
  });

  it('start times queue waiting jobs behind running ones, per slot', () => {
    const starts = estimateStartTimes([
      { id: 'r', running: true, remainingSeconds: 50 },
      { id: 'a', running: false, remainingSeconds: 100 },
      { id: 'b', running: false, remainingSeconds: 10 },
    ], 1, 1000);
    assert.deepEqual([starts.get('a'), starts.get('b'), starts.has('r')], [1050, 1150, false]);
    const two = estimateStartTimes([{ id: 'a', running: false, remainingSeconds: 100 }, { id: 'b', running: false, remainingSeconds: 10 }], 2, 0);
    assert.deepEqual([two.get('a'), two.get('b')], [0, 0]);
  });
});

describe('jobs: ids and requests', () => {
  it("names fine-tuned models in Mistral's form, with the suffix after the base", () => {
    const at = Date.UTC(2024, 4, 31) / 1000;
    const id = fineTunedModelId({ base: 'open-mistral-7b', suffix: null, workspaceId: '57d37e6c', jobId: '2813b7e6-aaaa-bbbb', createdAt: at });
    assert.equal(id, 'ft:open-mistral-7b:57d37e6c:20240531:2813b7e6');
    assert.equal(fineTunedModelId({ base: 'b', suffix: 'x', workspaceId: '57d37e6c', jobId: '2813b7e6', createdAt: at }), 'ft:b:x:57d37e6c:20240531:2813b7e6');
  });

  it('turns both dialects into one spec and rejects what zod cannot see', () => {
    const m = fromMistralCreate({ model: 'tiny-mistral', training_files: [{ file_id: 'f1' }], hyperparameters: { learning_rate: 1e-4 } });
    assert.deepEqual([m.autoStart, m.jobType, m.trainingFiles], [true, 'completion', [{ file_id: 'f1', weight: 1 }]]);
    const o = fromOpenAICreate({ model: 'tiny-mistral', training_file: 'f1', hyperparameters: { n_epochs: 2 } });
    assert.deepEqual([o.autoStart, o.hyperparameters.epochs], [true, 2]);
    assert.throws(() => fromMistralCreate({ model: 'm', training_files: [{ file_id: 'f' }], job_type: 'classifier' }), JobError);
    assert.throws(() => fromMistralCreate({ model: 'm', training_files: [{ file_id: 'f' }], suffix: 'a:b' }), /suffix/);
    assert.throws(() => fromOpenAICreate({ model: 'm', training_file: 'f', method: { type: 'dpo' } }), /supervised/);
  });

  it('dedupe keys ignore file order but not hyperparameters', () => {
    const a = fromMistralCreate({ model: 'm', training_files: [{ file_id: 'f1' }, { file_id: 'f2' }] });
    const b = fromMistralCreate({ model: 'm', training_files: [{ file_id: 'f2' }, { file_id: 'f1' }] });
    const c = fromMistralCreate({ model: 'm', training_files: [{ file_id: 'f1' }, { file_id: 'f2' }], hyperparameters: { training_steps: 5 } });
    assert.equal(dedupeKey(a), dedupeKey(b));
    assert.notEqual(dedupeKey(a), dedupeKey(c));
  });
});
