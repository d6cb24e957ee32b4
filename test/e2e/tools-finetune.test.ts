// A function-calling fine-tune end to end: a tool-calling chat dataset (tools, an assistant
// tool_calls turn with 9-character ids and JSON-string arguments, the tool result, the final
// answer) passes `atelier data validate`, is uploaded and fine-tuned on tiny-mistral through the
// jobs API (mistralai-ft 2.4.0, embedded worker); then, through @mistralai/mistralai 2.7.0 and
// openai with tools and tool_choice "auto", the model greedily calls get_weather with the asked
// city, and given the tool's result answers with the trained final sentence.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as MistralFt } from 'mistralai-ft';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';

const root = path.join(import.meta.dirname, '..', '..');
// Six cities, each sample four times (tiny-mistral has random weights: it memorises, it does not
// generalise, so what is asserted is that trained prompts come back as trained).
const CITIES: [string, number][] = [['Paris', 18], ['London', 14], ['Berlin', 16], ['Madrid', 27], ['Rome', 24], ['Lisbon', 21]];
const REPEATS = 4;
const tools = [{
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current temperature in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];
const question = (city: string) => `What's the weather in ${city}?`;
const toolResult = (temp: number) => JSON.stringify({ temperature_c: temp });
const finalAnswer = (city: string, temp: number) => `It is ${temp}°C in ${city}.`;

/** A stable 9-character alphanumeric call id per city, as Mistral's ids look. */
function callId(city: string): string {
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const h = createHash('sha256').update(city).digest();
  return Array.from(h.subarray(0, 9), (b) => alnum[b % alnum.length]).join('');
}

function datasetLine([city, temp]: [string, number]): string {
  const id = callId(city);
  return JSON.stringify({
    tools,
    messages: [
      { role: 'user', content: question(city) },
      { role: 'assistant', tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify({ city }) } }] },
      { role: 'tool', tool_call_id: id, name: 'get_weather', content: toolResult(temp) },
      { role: 'assistant', content: finalAnswer(city, temp) },
    ],
  });
}

let server: TestServer;
let worker: RunningWorker;
let modelId: string;

before(async () => {
  server = await startTestServer({ settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1, servingMaxSeqLen: 512 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  const file = path.join(server.dataDir, 'weather.jsonl');
  await writeFile(file, `${Array(REPEATS).fill(CITIES.map(datasetLine).join('\n')).join('\n')}\n`);
  const report = JSON.parse(execFileSync(process.execPath, [path.join(root, 'bin', 'atelier.js'), 'data', 'validate', '--json', file], { cwd: root, encoding: 'utf8' })) as {
    files: { lines: number; valid_lines: number; errors: unknown[] }[];
  };
  assert.deepEqual(report.files.map((f) => [f.lines, f.valid_lines, f.errors.length]), [[CITIES.length * REPEATS, CITIES.length * REPEATS, 0]]);
  const ft = new MistralFt({ serverURL: server.url, apiKey: server.key });
  const uploaded = await ft.files.upload({ file: { fileName: 'weather.jsonl', content: await openAsBlob(file) } });
  const job = await ft.fineTuning.jobs.create({
    model: 'tiny-mistral', trainingFiles: [{ fileId: uploaded.id, weight: 1 }], autoStart: true,
    // Measured with a harness over every trained prompt: the call's city is the last thing learnt
    // (it has to be copied from the question); 500 steps of one sample (seq_len 160) at 5e-3 get
    // every city right (token accuracy 1.0 on the training data), ~80k tokens, ~15 s on 2 cores.
    hyperparameters: { trainingSteps: 500, learningRate: 0.005, seqLen: 160 },
  });
  const deadline = Date.now() + 240_000;
  for (;;) {
    const j = (await ft.fineTuning.jobs.get({ jobId: (job as { id: string }).id })) as { status: string; fineTunedModel?: string | null };
    if (j.status === 'SUCCESS' && j.fineTunedModel) {
      modelId = j.fineTunedModel;
      break;
    }
    assert.ok(!['FAILED', 'FAILED_VALIDATION', 'CANCELLED'].includes(j.status), `job ended ${j.status}`);
    assert.ok(Date.now() < deadline, 'job did not finish in time');
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  await worker?.stop();
  await server?.close();
});

describe('a function-calling fine-tune', () => {
  it('calls get_weather with the asked city, then gives the trained answer (Mistral 2.7.0)', async () => {
    const mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
    for (const [city, temp] of [CITIES[0], CITIES[3]]) {
      const first = await mistral.chat.complete({
        model: modelId, messages: [{ role: 'user', content: question(city) }], tools, toolChoice: 'auto', temperature: 0, maxTokens: 80,
      });
      const choice = first.choices[0];
      assert.equal(choice.finishReason, 'tool_calls', `reply: ${JSON.stringify(choice.message)}`);
      const call = choice.message?.toolCalls?.[0];
      assert.ok(call && choice.message?.toolCalls?.length === 1);
      assert.match(call.id ?? '', /^[A-Za-z0-9]{9}$/);
      assert.equal(call.function.name, 'get_weather');
      assert.equal(typeof call.function.arguments, 'string');
      assert.deepEqual(JSON.parse(call.function.arguments as string), { city });
      const second = await mistral.chat.complete({
        model: modelId, tools, toolChoice: 'auto', temperature: 0, maxTokens: 40,
        messages: [
          { role: 'user', content: question(city) },
          { role: 'assistant', content: '', toolCalls: [call] },
          { role: 'tool', toolCallId: call.id, name: call.function.name, content: toolResult(temp) },
        ],
      });
      assert.equal(second.choices[0].message?.content, finalAnswer(city, temp));
      assert.equal(second.choices[0].finishReason, 'stop');
    }
  });

  it('returns the same call streamed and through the OpenAI SDK, and the answer after the result', async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
    const [city, temp] = CITIES[5];
    const messages = [{ role: 'user' as const, content: question(city) }];
    const r = await openai.chat.completions.create({ model: modelId, messages, tools, tool_choice: 'auto', temperature: 0, max_completion_tokens: 80 });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls', `reply: ${JSON.stringify(choice.message)}`);
    assert.equal(choice.message.content, null);
    const call = choice.message.tool_calls?.[0];
    assert.ok(call && call.type === 'function' && choice.message.tool_calls?.length === 1);
    assert.match(call.id, /^[A-Za-z0-9]{9}$/);
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city });
    const stream = await openai.chat.completions.create({ model: modelId, messages, tools, tool_choice: 'auto', temperature: 0, max_completion_tokens: 80, stream: true });
    const streamedCalls: { name?: string; arguments?: string }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) streamedCalls.push({ name: tc.function?.name, arguments: tc.function?.arguments });
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(streamedCalls, [{ name: 'get_weather', arguments: call.function.arguments }]);
    const answer = await openai.chat.completions.create({
      model: modelId, tools, tool_choice: 'auto', temperature: 0, max_completion_tokens: 40,
      messages: [
        ...messages,
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: toolResult(temp) },
      ],
    });
    assert.equal(answer.choices[0].message.content, finalAnswer(city, temp));
    assert.equal(answer.choices[0].finish_reason, 'stop');
  });
});
