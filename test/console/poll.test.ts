// The console's polling (console/src/poll.ts) without a browser: waits double while nothing
// changes, reset on a change or on now(), stop at 'done' or stop(), and failures back off too.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it, mock } from 'node:test';
import { poll, type Tick } from '../../console/src/poll.ts';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
afterEach(() => mock.timers.reset());

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Runs `tick` under poll() and returns the virtual times at which it ran, after `ms` of virtual time. */
async function tickTimes(verdicts: ReturnType<Tick> extends Promise<infer V> ? V[] : never, ms: number, opts = { minMs: 100, maxMs: 800 }): Promise<number[]> {
  const times: number[] = [];
  let i = 0;
  const poller = poll(async () => {
    times.push(Date.now());
    const v = verdicts[Math.min(i, verdicts.length - 1)];
    i += 1;
    if (v === undefined) throw new Error('no verdict');
    return v;
  }, opts);
  for (let t = 0; t < ms; t += 50) {
    await flush();
    mock.timers.tick(50);
  }
  await flush();
  poller.stop();
  return times;
}

it('doubles the wait while nothing changes, up to the maximum, and resets it on a change', async () => {
  assert.deepEqual(await tickTimes(['same', 'same', 'same', 'same', 'changed', 'same'], 3000), [0, 200, 600, 1400, 2200, 2300, 2500, 2900]);
});

it('stops when the tick says done', async () => {
  assert.deepEqual(await tickTimes(['changed', 'done'], 2000), [0, 100]);
});

it('backs off after a failed tick and reports the error', async () => {
  const errors: unknown[] = [];
  const times: number[] = [];
  const poller = poll(async () => {
    times.push(Date.now());
    throw new Error('down');
  }, { minMs: 100, maxMs: 1000, onError: (e) => errors.push(e) });
  for (let t = 0; t < 800; t += 50) {
    await flush();
    mock.timers.tick(50);
  }
  poller.stop();
  assert.deepEqual(times, [0, 200, 600]);
  assert.equal(errors.length, 3);
});

it('runs at once on now() and never after stop()', async () => {
  const times: number[] = [];
  const poller = poll(async () => (times.push(Date.now()), 'same'), { minMs: 1000, maxMs: 8000 });
  await flush();
  mock.timers.tick(300);
  poller.now();
  await flush();
  poller.stop();
  mock.timers.tick(20_000);
  await flush();
  assert.deepEqual(times, [0, 300]);
});
