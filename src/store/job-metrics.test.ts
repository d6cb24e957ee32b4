// The job_metrics history on SQLite and PostgreSQL: every step kept under the bound, evaluations
// merged into their step, thinning past the bound that keeps the shape, evaluations and the last
// step, and result_files on the job row.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { pgSkipReason } from '../../test/helpers/postgres.ts';
import {
  ensureWorkspace, getJobById, insertJob, listJobMetrics, metricsStride, recordJobMetrics, setJobResultFiles, type Store,
} from './index.ts';
import { postgresLocations, sqliteLocations, type MakeLocation } from './store-suite.ts';

async function withJob(t: TestContext, make: MakeLocation): Promise<{ store: Store; jobId: string }> {
  const loc = await make();
  const store = await loc.open();
  t.after(async () => {
    await store.close();
    await loc.cleanup();
  });
  const ws = await ensureWorkspace(store.db, 'default');
  const job = await insertJob(store.db, {
    workspaceId: ws.id, createdBy: null, dialect: 'openai', jobType: 'completion', model: 'tiny-mistral', autoStart: true,
    trainingFiles: [{ file_id: 'f', weight: 1 }], validationFiles: [], hyperparameters: {}, suffix: null, integrations: [],
    repositories: [], classifierTargets: null, userMetadata: {}, invalidSampleSkipPercentage: 0, seed: null, dedupeKey: 'k',
  });
  return { store, jobId: job.id };
}

// A loss curve with a recognisable shape: decay plus a bump in the middle.
const lossAt = (step: number) => 3 * Math.exp(-step / 60) + (step > 140 && step < 160 ? 0.5 : 0);

async function train(store: Store, jobId: string, steps: number, maxPoints: number, evalEvery: number): Promise<number> {
  let stride = 1;
  for (let step = 1; step <= steps; step++) {
    stride = await recordJobMetrics(store.db, jobId, { step, trainLoss: lossAt(step), learningRate: 1e-4, gradNorm: 1, tokensPerSecond: 500, trainedTokens: step * 64 }, maxPoints);
    if (step % evalEvery === 0) {
      await recordJobMetrics(store.db, jobId, { step, validLoss: lossAt(step) + 0.1, validMeanTokenAccuracy: 0.5, evaluated: true, extra: { classifier: { mood: { accuracy: 1, macro_f1: 1 } } } }, maxPoints);
    }
  }
  return stride;
}

function suite(name: string, make: MakeLocation, skip: string | false): void {
  describe(`job metrics on ${name}`, { skip }, () => {
    it('keeps every step under the bound, with evaluations merged into their step', async (t) => {
      const { store, jobId } = await withJob(t, make);
      assert.equal(await train(store, jobId, 50, 1000, 10), 1);
      const { points, downsampled } = await listJobMetrics(store.db, jobId, 1000);
      assert.equal(downsampled, false);
      assert.deepEqual(points.map((p) => p.step), Array.from({ length: 50 }, (_, i) => i + 1));
      const p20 = points[19];
      assert.equal(p20?.trainLoss, lossAt(20), 'the evaluation does not overwrite the step loss');
      assert.equal(p20?.validLoss, lossAt(20) + 0.1);
      assert.equal(p20?.trainedTokens, 20 * 64);
      assert.deepEqual(p20?.extra, { classifier: { mood: { accuracy: 1, macro_f1: 1 } } });
      assert.equal(points[20]?.validLoss, null);
      assert.equal(points.filter((p) => p.evaluated).length, 5);
    });

    it('past the bound thins uniformly, keeping evaluations, the last step and the shape', async (t) => {
      const { store, jobId } = await withJob(t, make);
      const stride = await train(store, jobId, 300, 64, 50);
      const { points, downsampled } = await listJobMetrics(store.db, jobId, 64);
      assert.equal(downsampled, true);
      assert.ok(points.length <= 64, `${points.length} points within the bound`);
      assert.equal(stride, metricsStride(300, 6, 64));
      assert.equal(points.at(-1)?.step, 300);
      assert.deepEqual(points.filter((p) => p.evaluated).map((p) => p.step), [50, 100, 150, 200, 250, 300]);
      assert.ok(points.filter((p) => !p.evaluated && p.step !== 300).every((p) => p.step % stride === 0), 'the rest are on the stride');
      assert.ok(points.some((p) => p.step > 140 && p.step < 160 && (p.trainLoss ?? 0) > lossAt(p.step) - 0.01 && (p.trainLoss ?? 0) > lossAt(170)), 'the bump survives');
      for (const p of points) assert.equal(p.trainLoss, lossAt(p.step), 'kept rows hold their own step, not averages');
    });

    it('result_files are stored on the job', async (t) => {
      const { store, jobId } = await withJob(t, make);
      assert.deepEqual((await getJobById(store.db, jobId))?.resultFiles, []);
      await setJobResultFiles(store.db, jobId, ['file-1']);
      assert.deepEqual((await getJobById(store.db, jobId))?.resultFiles, ['file-1']);
    });
  });
}

describe('metricsStride', () => {
  it('is the smallest power of two that fits the bound', () => {
    assert.equal(metricsStride(100, 0, 1000), 1);
    assert.equal(metricsStride(999, 0, 1000), 1);
    assert.equal(metricsStride(1000, 0, 1000), 2);
    assert.equal(metricsStride(10_000, 10, 1000), 16);
  });
});

suite('SQLite', sqliteLocations('atelier-metrics-'), false);

const pgSkip = await pgSkipReason();
suite('PostgreSQL', postgresLocations('atelier-metrics-'), pgSkip ?? false);
