/**
 * A running job's metrics, as the trainer reports them: every step's row goes to the store's
 * history at once (bounded by jobMetricsMaxPoints), and each step becomes an OpenAI-style `metrics`
 * event. The event of a step is held until the next message, so an evaluation at that step joins
 * it (OpenAI puts valid_loss in the step's event); past the bound, events are thinned like the rows.
 */
import { appendEvent, recordJobMetrics, type JobRecord, type Store } from '../store/index.ts';
import type { TrainerMessage } from './trainer-messages.ts';

type Progress = Extract<TrainerMessage, { type: 'progress' }>;
type Checkpoint = Extract<TrainerMessage, { type: 'checkpoint' }>;
type PendingEvent = { step: number; total: number; data: Record<string, unknown>; evaluated: boolean };

export type MetricsRecorder = {
  progress(m: Progress): Promise<void>;
  evaluation(m: Checkpoint): Promise<void>;
  /** Sends the held event (at the end of the run). */
  flush(): Promise<void>;
};

/** Epochs done after `step`: trained tokens per step over the data's tokens (null without a plan). */
function epochAt(job: JobRecord, step: number): number | null {
  const perStep = job.plan?.train_tokens_per_step;
  const data = job.plan?.data_tokens;
  return typeof perStep === 'number' && typeof data === 'number' && data > 0 ? Math.round(((step * perStep) / data) * 1e4) / 1e4 : null;
}

function progressData(m: Progress): Record<string, unknown> {
  return {
    step: m.step, total_steps: m.total_steps, train_loss: m.loss, train_mean_token_accuracy: null, valid_loss: null, valid_mean_token_accuracy: null,
    lr: m.lr, grad_norm: m.grad_norm ?? null, tokens_per_s: m.tokens_per_s, trained_tokens: m.trained_tokens,
  };
}

function message(e: PendingEvent): string {
  const num = (v: unknown) => (typeof v === 'number' ? v.toFixed(4) : 'n/a');
  const valid = e.evaluated ? `, validation loss=${num(e.data.valid_loss)}` : '';
  return `Step ${e.step}/${e.total}: training loss=${num(e.data.train_loss)}${valid}`;
}

export function createMetricsRecorder(store: Store, job: JobRecord, maxPoints: number): MetricsRecorder {
  let pending: PendingEvent | null = null;
  let stride = 1;
  const flush = async () => {
    const e = pending;
    pending = null;
    if (!e || !(e.evaluated || e.step % stride === 0 || e.step >= e.total)) return;
    await appendEvent(store.db, job.id, { name: 'metrics', level: 'info', data: e.data, message: message(e) });
  };
  return {
    async progress(m) {
      await flush();
      stride = await recordJobMetrics(store.db, job.id, {
        step: m.step, epoch: epochAt(job, m.step), trainLoss: m.loss, learningRate: m.lr, gradNorm: m.grad_norm ?? null,
        tokensPerSecond: m.tokens_per_s, trainedTokens: m.trained_tokens,
      }, maxPoints);
      pending = { step: m.step, total: m.total_steps, data: progressData(m), evaluated: false };
    },
    async evaluation(m) {
      const { valid_loss, valid_mean_token_accuracy, classifier } = m.metrics;
      const extra = classifier ? { classifier } : null;
      await recordJobMetrics(store.db, job.id, { step: m.step, validLoss: valid_loss, validMeanTokenAccuracy: valid_mean_token_accuracy, evaluated: true, extra }, maxPoints);
      if (pending?.step === m.step) {
        pending.data = { ...pending.data, valid_loss, valid_mean_token_accuracy, ...(extra ?? {}) };
        pending.evaluated = true;
      }
      await flush();
    },
    flush,
  };
}
