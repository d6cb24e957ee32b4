// The jobs tables on SQLite and PostgreSQL: claims (N workers, M jobs, each claimed exactly once),
// owner-guarded transitions, stale-heartbeat recovery, events newest first, throughput means.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { pgSkipReason } from '../../test/helpers/postgres.ts';
import {
  claimJob, ensureWorkspace, getJobById, getThroughput, heartbeatJob, insertJob, listJobEvents, listJobs,
  getJob, IllegalTransitionError, queueStartedJob, recordThroughput, transitionJob, type JobStatus, type NewJob, type Store,
} from './index.ts';
import { postgresLocations, sqliteLocations, type MakeLocation } from '../../test/helpers/store-suite.ts';

type Open = () => Promise<Store>;

async function location(t: TestContext, make: MakeLocation): Promise<{ store: Store; open: Open }> {
  const loc = await make();
  const store = await loc.open();
  const opened: Store[] = [store];
  t.after(async () => {
    for (const s of opened) await s.close();
    await loc.cleanup();
  });
  return { store, open: async () => { const s = await loc.open(); opened.push(s); return s; } };
}

function newJob(workspaceId: string, n: number): NewJob {
  return {
    workspaceId, createdBy: null, dialect: 'mistral', jobType: 'completion', model: 'tiny-mistral', autoStart: true,
    trainingFiles: [{ file_id: `f${n}`, weight: 1 }], validationFiles: [], hyperparameters: { training_steps: n },
    suffix: n % 2 ? 'odd' : null, integrations: n === 1 ? [{ type: 'wandb', project: 'p1', name: 'n1' }] : [], repositories: [],
    classifierTargets: null, userMetadata: { n: String(n) }, invalidSampleSkipPercentage: 0, seed: null, dedupeKey: `k${n}`,
  };
}

async function validatedJobs(store: Store, count: number): Promise<string[]> {
  const ws = await ensureWorkspace(store.db, 'default');
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const j = await insertJob(store.db, newJob(ws.id, i));
    for (const [from, to] of [['QUEUED', 'STARTED'], ['STARTED', 'VALIDATING']] satisfies [JobStatus, JobStatus][]) {
      assert.ok(await transitionJob(store.db, j.id, [from], to));
    }
    assert.ok(await transitionJob(store.db, j.id, ['VALIDATING'], 'VALIDATED', { patch: { plan: { training_steps: 1 } } }));
    ids.push(j.id);
  }
  return ids;
}

function suite(name: string, make: MakeLocation, skip: string | false): void {
  describe(`jobs store on ${name}`, { skip }, () => {
    it('N workers on separate connections claim M jobs, each exactly once', async (t) => {
      const { store, open } = await location(t, make);
      const ids = await validatedJobs(store, 12);
      const connections = await Promise.all(Array.from({ length: 4 }, () => open()));
      const claimed: string[] = [];
      await Promise.all(connections.map(async (c, w) => {
        for (;;) {
          const job = await claimJob(c.db, `worker-${w}`, Date.now(), Date.now() - 60_000);
          if (!job) return;
          assert.equal(job.status, 'RUNNING');
          assert.equal(job.lockedBy, `worker-${w}`);
          claimed.push(job.id);
        }
      }));
      assert.deepEqual([...claimed].sort(), [...ids].sort());
    });

    it('a started job moves from VALIDATED to QUEUED and is claimed from there; an unvalidated QUEUED job never is', async (t) => {
      const { store } = await location(t, make);
      const ws = await ensureWorkspace(store.db, 'default');
      const fresh = await insertJob(store.db, { ...newJob(ws.id, 99), autoStart: true });
      assert.equal(await claimJob(store.db, 'w1', Date.now(), 0), null, 'QUEUED before validation (no plan) waits for the validator');
      const [id] = await validatedJobs(store, 1);
      const queued = await queueStartedJob(store.db, id!);
      assert.equal(queued?.status, 'QUEUED');
      assert.equal(await queueStartedJob(store.db, id!), null, 'only from VALIDATED');
      const claimed = await claimJob(store.db, 'w1', Date.now(), 0);
      assert.deepEqual([claimed?.id, claimed?.status], [id, 'RUNNING']);
      assert.deepEqual((await listJobEvents(store.db, id!)).map((e) => e.data?.status).slice(0, 3), ['RUNNING', 'QUEUED', 'VALIDATED']);
      assert.equal((await getJobById(store.db, fresh.id))?.status, 'QUEUED');
    });

    it('a job needing N devices is only claimed by a worker with at least N; other jobs pass it by', async (t) => {
      const { store } = await location(t, make);
      const ws = await ensureWorkspace(store.db, 'default');
      const big = await insertJob(store.db, newJob(ws.id, 1));
      for (const [from, to] of [['QUEUED', 'STARTED'], ['STARTED', 'VALIDATING']] satisfies [JobStatus, JobStatus][]) assert.ok(await transitionJob(store.db, big.id, [from], to));
      const validated = await transitionJob(store.db, big.id, ['VALIDATING'], 'VALIDATED', { patch: { plan: { training_steps: 1, devices_required: 2 } } });
      assert.equal(validated?.devicesRequired, 2);
      const [small] = await validatedJobs(store, 1);
      const one = await claimJob(store.db, 'one-device', Date.now(), 0, ['completion'], 1);
      assert.equal(one?.id, small, 'the 1-device worker skips the older 2-device job and takes the next');
      assert.equal(await claimJob(store.db, 'one-device', Date.now(), 0, ['completion'], 1), null, 'nothing left it can run');
      const two = await claimJob(store.db, 'two-devices', Date.now(), 0, ['completion'], 2);
      assert.deepEqual([two?.id, two?.status, two?.devicesRequired], [big.id, 'RUNNING', 2]);
    });

    it('a validated job whose start was not requested stays VALIDATED', async (t) => {
      const { store } = await location(t, make);
      const ws = await ensureWorkspace(store.db, 'default');
      const j = await insertJob(store.db, { ...newJob(ws.id, 7), autoStart: false });
      for (const [from, to] of [['QUEUED', 'STARTED'], ['STARTED', 'VALIDATING']] satisfies [JobStatus, JobStatus][]) assert.ok(await transitionJob(store.db, j.id, [from], to));
      assert.ok(await transitionJob(store.db, j.id, ['VALIDATING'], 'VALIDATED', { patch: { plan: { training_steps: 1 } } }));
      assert.equal(await queueStartedJob(store.db, j.id), null);
      assert.equal(await claimJob(store.db, 'w1', Date.now(), 0), null);
    });

    it('only the worker holding a job may move it', async (t) => {
      const { store } = await location(t, make);
      const [id] = await validatedJobs(store, 1);
      const job = await claimJob(store.db, 'w1', Date.now(), Date.now() - 60_000);
      assert.equal(job?.id, id);
      assert.equal(await transitionJob(store.db, id!, ['RUNNING'], 'SUCCESS', { lockedBy: 'w2' }), null);
      assert.equal((await heartbeatJob(store.db, id!, 'w2')).held, false);
      assert.equal((await heartbeatJob(store.db, id!, 'w1')).held, true);
      const done = await transitionJob(store.db, id!, ['RUNNING'], 'SUCCESS', { lockedBy: 'w1', patch: { finished: true, releaseLock: true } });
      assert.equal(done?.status, 'SUCCESS');
      assert.equal(done?.lockedBy, null);
    });

    it('a running job with a stale heartbeat is claimed again (resumed), a fresh one is not', async (t) => {
      const { store } = await location(t, make);
      const [id] = await validatedJobs(store, 1);
      const first = await claimJob(store.db, 'w1', 1_000, 0);
      assert.equal(first?.attempts, 1);
      assert.equal(await claimJob(store.db, 'w2', 2_000, 500), null, 'heartbeat at 1000 is newer than 500');
      const again = await claimJob(store.db, 'w2', 10_000, 5_000);
      assert.equal(again?.id, id);
      assert.equal(again?.attempts, 2);
      assert.equal(again?.lockedBy, 'w2');
      assert.equal((await heartbeatJob(store.db, id!, 'w1')).held, false, 'the first worker lost the job');
    });

    it('every status change is one status-updated event, newest first', async (t) => {
      const { store } = await location(t, make);
      const [id] = await validatedJobs(store, 1);
      const events = await listJobEvents(store.db, id!);
      assert.deepEqual(events.map((e) => e.data?.status), ['VALIDATED', 'VALIDATING', 'STARTED', 'QUEUED']);
      assert.ok(events.every((e) => e.name === 'status-updated'));
      assert.equal(await transitionJob(store.db, id!, ['QUEUED'], 'STARTED'), null, 'a guarded transition from a stale status does nothing');
      assert.equal((await listJobEvents(store.db, id!)).length, 4);
    });

    it('a move the state table forbids is refused before touching the row', async (t) => {
      const { store } = await location(t, make);
      const [id] = await validatedJobs(store, 1);
      await assert.rejects(transitionJob(store.db, id!, ['VALIDATED'], 'SUCCESS'), (err: unknown) => err instanceof IllegalTransitionError && err.from === 'VALIDATED');
      await assert.rejects(transitionJob(store.db, id!, ['RUNNING', 'SUCCESS'], 'FAILED'), IllegalTransitionError);
      assert.equal((await listJobEvents(store.db, id!)).length, 4, 'no event was written');
      const claimed = await claimJob(store.db, 'w1', Date.now(), 0);
      assert.equal(claimed?.status, 'RUNNING');
    });

    it('JSON columns are parsed with their schema when read', async (t) => {
      const { store } = await location(t, make);
      const [id] = await validatedJobs(store, 1);
      const ws = (await ensureWorkspace(store.db, 'default')).id;
      assert.deepEqual((await getJob(store.db, ws, id!))?.trainingFiles, [{ file_id: 'f0', weight: 1 }]);
      await store.db.run('UPDATE jobs SET training_files = $2 WHERE id = $1', [id!, JSON.stringify([{ file_id: 7 }])]);
      await assert.rejects(getJob(store.db, ws, id!), /file_id/);
    });

    it('lists filter by model, status, suffix, wandb and metadata, and page', async (t) => {
      const { store } = await location(t, make);
      const ids = await validatedJobs(store, 5);
      const ws = (await ensureWorkspace(store.db, 'default')).id;
      const all = await listJobs(store.db, ws, {}, { limit: 2, offset: 0 });
      assert.equal(all.total, 5);
      assert.deepEqual(all.jobs.map((j) => j.id), [ids[4], ids[3]]);
      assert.equal((await listJobs(store.db, ws, { suffix: 'odd' }, { limit: 10 })).total, 2);
      assert.equal((await listJobs(store.db, ws, { wandbProject: 'p1', wandbName: 'n1' }, { limit: 10 })).jobs[0]?.id, ids[1]);
      assert.equal((await listJobs(store.db, ws, { metadata: { n: '3' } }, { limit: 10 })).jobs[0]?.id, ids[3]);
      assert.equal((await listJobs(store.db, ws, { status: 'RUNNING' }, { limit: 10 })).total, 0);
      assert.deepEqual((await listJobs(store.db, ws, {}, { limit: 2, after: ids[3] })).jobs.map((j) => j.id), [ids[2], ids[1]]);
    });

    it('throughput is the mean of the finished jobs per model and device', async (t) => {
      const { store } = await location(t, make);
      assert.equal(await getThroughput(store.db, 'm', 'cpu'), null);
      await recordThroughput(store.db, 'm', 'cpu', 100);
      await recordThroughput(store.db, 'm', 'cpu', 200);
      assert.equal(await getThroughput(store.db, 'm', 'cpu'), 150);
    });
  });
}

suite('SQLite', sqliteLocations('atelier-jobs-'), false);

const pgSkip = await pgSkipReason();
suite('PostgreSQL', postgresLocations('atelier-jobs-'), pgSkip ?? false);
