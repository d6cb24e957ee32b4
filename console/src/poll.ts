/**
 * Polling with backoff for live pages: `tick` runs, then again after `minMs`; each tick that reports
 * no change doubles the wait up to `maxMs`, a change resets it. Stops when `tick` says done or when
 * stop() is called (the page was left). Failed ticks back off the same way and report through onError.
 */
export type Tick = () => Promise<'changed' | 'same' | 'done'>;

export type Poller = { stop(): void; now(): void };

export function poll(tick: Tick, opts: { minMs?: number; maxMs?: number; onError?: (err: unknown) => void } = {}): Poller {
  const minMs = opts.minMs ?? 1000;
  const maxMs = opts.maxMs ?? 15_000;
  let wait = minMs;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  const run = async () => {
    timer = null;
    let verdict: 'changed' | 'same' | 'done' = 'same';
    try {
      verdict = await tick();
    } catch (err) {
      opts.onError?.(err);
    }
    if (stopped || verdict === 'done') return;
    wait = verdict === 'changed' ? minMs : Math.min(maxMs, wait * 2);
    timer = setTimeout(run, wait);
  };
  void run();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    now() {
      if (stopped || !timer) return;
      clearTimeout(timer);
      wait = minMs;
      void run();
    },
  };
}
