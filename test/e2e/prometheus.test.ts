// GET /metrics: the server's own metrics in Prometheus text format, behind the API key: jobs by
// status, queue depth, engine slots and the request latency histogram by route and status.
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from 'mistralai-ft';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { completionJob } from '../helpers/jobs.ts';
import { until } from '../helpers/wait.ts';

const example = path.join(import.meta.dirname, '..', '..', 'examples', 'quickstart');
let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(() => server?.close());

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.key}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).trim().split('\n')) {
    if (line.startsWith('#')) {
      assert.match(line, /^# (HELP|TYPE) atelier_\w+ .+$/);
      continue;
    }
    const m = /^(atelier_\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    samples.set(m[1] ?? '', Number(m[2]));
  }
  return samples;
}

describe('Prometheus /metrics', () => {
  it('needs an API key', async () => {
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
  });

  it('counts jobs by status and the queue, and times requests by route and status', async () => {
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    const file = await mistral.files.upload({ file: { fileName: 'train.jsonl', content: await openAsBlob(path.join(example, 'train.jsonl')) } });
    const auto = completionJob(await mistral.fineTuning.jobs.create({ model: 'tiny-mistral', trainingFiles: [{ fileId: file.id, weight: 1 }], autoStart: true, hyperparameters: { trainingSteps: 2, seqLen: 128 } }));
    const held = completionJob(await mistral.fineTuning.jobs.create({ model: 'tiny-mistral', trainingFiles: [{ fileId: file.id, weight: 1 }], autoStart: false, hyperparameters: { trainingSteps: 3, seqLen: 128 } }));
    assert.equal((await fetch(`${server.url}/v1/nowhere`, { headers: { authorization: `Bearer ${server.key}` } })).status, 404);
    // No worker runs here: the held job stops at VALIDATED, the auto-started one waits at QUEUED.
    // A job is QUEUED before validation too: the estimate in its metadata tells the two apart.
    const validated = async () => Promise.all([auto, held].map(async (j) => completionJob(await mistral.fineTuning.jobs.get({ jobId: j.id }))));
    await until(validated, ([a, h]) => a?.status === 'QUEUED' && a.metadata?.trainTokens != null && h?.status === 'VALIDATED', 'both jobs validated', 60_000, 200);
    const s = await until(scrape, (m) => m.get('atelier_jobs{status="VALIDATED"}') === 1 && m.get('atelier_jobs{status="QUEUED"}') === 1, 'the counts scraped', 60_000, 200);
    assert.equal(s.get('atelier_jobs{status="RUNNING"}'), 0);
    assert.equal(s.get('atelier_job_queue_depth'), 1, 'only the auto-started job waits for a worker');
    assert.equal(s.get('atelier_engine_slots_in_use'), 0);
    assert.equal(s.get('atelier_http_request_duration_seconds_count{method="POST",route="/v1/fine_tuning/jobs",status="200"}'), 2);
    assert.equal(s.get('atelier_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}'), 1);
    const inf = s.get('atelier_http_request_duration_seconds_bucket{method="POST",route="/v1/files",status="200",le="+Inf"}');
    assert.equal(inf, 1);
    assert.ok((s.get('atelier_http_request_duration_seconds_sum{method="POST",route="/v1/files",status="200"}') ?? 0) > 0);
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30].map((le) => s.get(`atelier_http_request_duration_seconds_bucket{method="POST",route="/v1/files",status="200",le="${le}"}`) ?? -1);
    assert.ok(buckets.every((b, i) => b >= 0 && (i === 0 || b >= (buckets[i - 1] ?? 0))), 'cumulative buckets');
  });
});
