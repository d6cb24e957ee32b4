/**
 * A live server with the embedded worker, for end-to-end tests that train. Keep the returned stack
 * in a module variable before awaiting anything slow, so `after` can stop it even when `before`
 * fails: a stack left running keeps the test file's process (and the whole suite) alive.
 */
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';
import { startTestServer, type TestServer, type TestServerOptions } from './server.ts';

export type TestStack = { server: TestServer; worker: RunningWorker; stop(): Promise<void> };

/** Starts a server and a worker on its store (quiet log); stop() stops the worker, then the server. */
export async function startTestStack(opts: TestServerOptions = {}): Promise<TestStack> {
  const server = await startTestServer(opts);
  const worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  return {
    server,
    worker,
    async stop() {
      await worker.stop();
      await server.close();
    },
  };
}
