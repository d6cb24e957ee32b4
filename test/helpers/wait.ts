/**
 * Polling on the server's own state, for end-to-end tests that wait on a job or a checkpoint
 * (the state is what we wait on, never a fixed sleep):
 *
 *   const done = await until(() => client.fineTuning.jobs.get({ jobId }), (j) => j.status === 'SUCCESS', 'SUCCESS');
 */
import assert from 'node:assert/strict';

/** Re-reads `read()` every `everyMs` until `ok` holds and returns that value; fails the test after `ms`, showing the last value. */
export async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 120_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
