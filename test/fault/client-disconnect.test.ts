// Fault suite: a client that disconnects from a chat completion (non-streamed, or streamed before
// its first byte) frees its engine row at once. The engine has one row (servingMaxBatch 1), so a
// following request can only run once the abandoned one has stopped: its latency shows whether the
// engine went on generating for nobody.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const model = 'tiny-mistral';
const messages = [{ role: 'user' as const, content: 'What is the capital of France?' }];
const longTokens = 300;
let server: TestServer;
let openai: OpenAI;
let fullMs = 0;

before(async () => {
  server = await startTestServer({ settings: { servingThreads: 1, servingMaxSeqLen: 512, servingMaxBatch: 1 } });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
  await openai.chat.completions.create({ model, messages, temperature: 0, max_completion_tokens: 2 }); // engine up
  const t0 = performance.now();
  const full = await openai.chat.completions.create({ model, messages, temperature: 0, max_completion_tokens: longTokens });
  fullMs = performance.now() - t0;
  assert.equal(full.choices[0].finish_reason, 'length', 'the long request really generates all its tokens');
});

after(async () => {
  await server?.close();
});

/** Sends a long completion on a raw socket and closes it after `dropAfterMs` (0: as soon as the request is written). */
async function abandon(stream: boolean, dropAfterMs: number): Promise<void> {
  const body = JSON.stringify({ model, messages, temperature: 0, max_tokens: longTokens, stream });
  const { port } = new URL(server.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${server.key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  await new Promise<void>((resolve) => socket.write(head + body, () => resolve()));
  let got = 0;
  socket.on('data', (d: Buffer) => (got += d.length));
  if (dropAfterMs > 0) await new Promise((r) => setTimeout(r, dropAfterMs));
  assert.equal(got, 0, 'dropped before any byte of the reply');
  socket.destroy();
}

/** How long a short request takes right after an abandoned long one. */
async function nextLatency(): Promise<number> {
  const t0 = performance.now();
  const r = await openai.chat.completions.create({ model, messages, temperature: 0, max_completion_tokens: 2 });
  assert.ok((r.usage?.completion_tokens ?? 0) > 0);
  return performance.now() - t0;
}

describe('client disconnects', () => {
  it('a non-streamed completion abandoned mid-generation stops in the engine', async () => {
    await abandon(false, fullMs / 5);
    const ms = await nextLatency();
    assert.ok(ms < fullMs / 4, `the next request took ${ms.toFixed(0)} ms; the abandoned one would have needed about ${(fullMs * 0.8).toFixed(0)} ms more`);
  });

  it('a stream abandoned before its first byte stops in the engine', async () => {
    await abandon(true, 0);
    const ms = await nextLatency();
    assert.ok(ms < fullMs / 4, `the next request took ${ms.toFixed(0)} ms (a whole long completion takes ${fullMs.toFixed(0)} ms)`);
  });
});
