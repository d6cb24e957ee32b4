// Chat completions and the models API through the official SDKs against a live server on
// tiny-mistral: @mistralai/mistralai 2.7.0, mistralai-v1 1.15.1 (strict parsing) and openai
// (maxRetries 0). Base-model answers are random text; what is checked is the protocol: greedy
// replies repeat, streams concatenate to the same text, JSON mode yields JSON, errors are typed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as MistralV1 } from 'mistralai-v1';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from '../helpers/server.ts';

type Fixture = { server: TestServer; mistral: Mistral; strict: MistralV1; openai: OpenAI };
let f: Fixture;
const model = 'tiny-mistral';
const messages = [{ role: 'user' as const, content: 'What is the capital of France?' }];

before(async () => {
  const server = await startTestServer({ settings: { servingThreads: 1, servingMaxSeqLen: 512 } });
  f = {
    server,
    mistral: new Mistral({ serverURL: server.url, apiKey: server.key }),
    strict: new MistralV1({ serverURL: server.url, apiKey: server.key }),
    openai: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 }),
  };
});

after(async () => {
  await f?.server.close();
});

/** Pids of this process's serving engines (the test runs the server in process). */
function enginePids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('trainer.serve')).map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('chat completions on a base model', () => {
  it('answers greedily the same text through Mistral 2.7.0, 1.15.1 strict and OpenAI', async () => {
    const a = await f.mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 12 });
    const text = a.choices[0].message?.content;
    assert.equal(typeof text, 'string');
    assert.equal(a.object, 'chat.completion');
    const { promptTokens = 0, completionTokens = 0 } = a.usage;
    assert.ok(promptTokens > 5 && completionTokens > 0);
    assert.equal(a.usage.totalTokens, promptTokens + completionTokens);
    assert.ok(['stop', 'length'].includes(a.choices[0].finishReason));
    const b = await f.strict.chat.complete({ model, messages, temperature: 0, maxTokens: 12 });
    assert.equal(b.choices?.[0].message.content, text);
    const c = await f.openai.chat.completions.create({ model, messages, temperature: 0, max_completion_tokens: 12 });
    assert.equal(c.choices[0].message.content, text);
    assert.equal(c.usage?.completion_tokens, a.usage.completionTokens);
  });

  it('streams chunks that concatenate to the non-streamed text, with usage on the last chunk', async () => {
    const full = await f.mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 16 });
    const stream = await f.mistral.chat.stream({ model, messages, temperature: 0, maxTokens: 16 });
    let text = '';
    let last: { finishReason: unknown; usage: unknown } | null = null;
    for await (const ev of stream) {
      text += (ev.data.choices[0]?.delta.content as string | undefined) ?? '';
      last = { finishReason: ev.data.choices[0]?.finishReason, usage: ev.data.usage };
    }
    assert.equal(text, full.choices[0].message?.content);
    assert.equal(last?.finishReason, full.choices[0].finishReason);
    assert.deepEqual(last?.usage, full.usage);
    const oa = await f.openai.chat.completions.create({ model, messages, temperature: 0, max_completion_tokens: 16, stream: true, stream_options: { include_usage: true } });
    let oaText = '';
    for await (const chunk of oa) oaText += chunk.choices[0]?.delta.content ?? '';
    assert.equal(oaText, text);
  });

  it('seeded sampling repeats, n gives n choices, and stop strings cut the text', async () => {
    const req = { model, messages, temperature: 1, randomSeed: 42, maxTokens: 10, n: 2 };
    const one = await f.mistral.chat.complete(req);
    const two = await f.mistral.chat.complete(req);
    assert.equal(one.choices.length, 2);
    assert.deepEqual(one.choices.map((c) => c.message?.content), two.choices.map((c) => c.message?.content));
    const greedy = (await f.mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 12 })).choices[0].message?.content as string;
    const stopAt = greedy.trim().slice(2, 4);
    if (stopAt.length === 2) {
      const cut = await f.openai.chat.completions.create({ model, messages, temperature: 0, max_tokens: 12, stop: [stopAt] });
      assert.equal(cut.choices[0].message.content, greedy.slice(0, greedy.indexOf(stopAt)));
      assert.equal(cut.choices[0].finish_reason, 'stop');
    }
  });

  it('json_object and json_schema replies are valid JSON matching the schema', async () => {
    const obj = await f.openai.chat.completions.create({ model, messages, temperature: 0, max_completion_tokens: 60, response_format: { type: 'json_object' } });
    if (obj.choices[0].finish_reason === 'stop') assert.equal(typeof JSON.parse(obj.choices[0].message.content ?? ''), 'object');
    else assert.ok(obj.choices[0].message.content?.startsWith('{') || obj.choices[0].message.content?.startsWith(' {'));
    const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'integer' } }, required: ['ok', 'n'], additionalProperties: false };
    const r = await f.mistral.chat.complete({
      model, messages, temperature: 0, maxTokens: 40,
      responseFormat: { type: 'json_schema', jsonSchema: { name: 'answer', schemaDefinition: schema, strict: true } },
    });
    const text = r.choices[0].message?.content as string;
    if (r.choices[0].finishReason === 'stop') {
      const v = JSON.parse(text) as { ok: unknown; n: unknown };
      assert.equal(typeof v.ok, 'boolean');
      assert.ok(Number.isInteger(v.n));
    } else assert.match(text.trim(), /^\{"?/);
  });

  it('json_schema admitting no output is a 400 naming the path; the engine and a concurrent stream live on', async () => {
    await f.mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 2 }); // engine is up
    const [pid] = enginePids();
    const other = await f.server.createKey('chat-bystander');
    const bystander = new OpenAI({ baseURL: `${f.server.url}/v1`, apiKey: other.key, maxRetries: 0 });
    const stream = await bystander.chat.completions.create({ model, messages, temperature: 0, max_completion_tokens: 40, stream: true });
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ enum: [] }, /response_format\.json_schema\.schema admits no value.*enum is empty/],
      [{ type: 'banana' }, /response_format\.json_schema\.schema\.type must be one of/],
      [{ type: 'object', properties: { a: { type: 'string' } }, required: ['b'], additionalProperties: false }, /requires \\?"b\\?" but allows no such property/],
    ];
    for (const [schema, message] of bad) {
      await assert.rejects(
        f.openai.chat.completions.create({ model, messages, temperature: 1, max_completion_tokens: 8, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && message.test(e.message) && !/\/(tmp|work|home)\//.test(e.message),
      );
      await assert.rejects(
        f.mistral.chat.complete({ model, messages, temperature: 1, maxTokens: 8, responseFormat: { type: 'json_schema', jsonSchema: { name: 'x', schemaDefinition: schema } } }),
        (e: unknown) => (e as { statusCode?: number }).statusCode === 400 && message.test(String((e as Error).message)),
      );
    }
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.ok(text.length > 0 && (finish === 'stop' || finish === 'length'), 'the other workspace\'s stream completed');
    assert.deepEqual(enginePids(), [pid], 'the same engine process serves on');
  });

  it('tool_choice any forces parseable tool_calls with 9-character ids and string arguments', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const r = await f.openai.chat.completions.create({ model, messages, tools, tool_choice: 'required', temperature: 0, max_completion_tokens: 60 });
    const choice = r.choices[0];
    if (choice.finish_reason === 'tool_calls') {
      const call = choice.message.tool_calls?.[0];
      assert.ok(call && call.type === 'function');
      assert.match(call.id, /^[A-Za-z0-9]{9}$/);
      assert.equal(call.function.name, 'get_weather');
      assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
    } else assert.equal(choice.finish_reason, 'length'); // a random model may write a long city name
  });

  it('unknown models get 404 and bad bodies 422 in each SDK\'s error type', async () => {
    await assert.rejects(f.openai.chat.completions.create({ model: 'nope', messages }), (e: unknown) => e instanceof OpenAI.NotFoundError);
    await assert.rejects(f.mistral.chat.complete({ model: 'nope', messages }), (e: unknown) => (e as { statusCode?: number }).statusCode === 404);
    const res = await fetch(`${f.server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${f.server.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [] }) });
    assert.equal(res.status, 422);
    assert.ok(Array.isArray(((await res.json()) as { detail: unknown }).detail));
  });

  it('50 concurrent requests all succeed', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      f.openai.chat.completions.create({ model, messages: [{ role: 'user', content: `Count to ${i}` }], temperature: 0, max_completion_tokens: 6 })));
    assert.equal(replies.length, 50);
    for (const r of replies) assert.ok(r.usage && r.usage.completion_tokens > 0);
  });

  it('a killed engine answers the request in flight with an error, then restarts', async () => {
    await f.mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 2 }); // engine is up
    const [pid] = enginePids();
    assert.ok(pid);
    // Streamed, so the kill lands while the engine is generating for this request (a non-streamed
    // request could still be on its way to the server when the engine dies).
    const stream = await f.openai.chat.completions.create({ model, messages, temperature: 0, max_completion_tokens: 400, stream: true });
    let killed = false;
    const consume = async () => {
      for await (const chunk of stream) {
        if (!killed && chunk.choices[0]?.delta.content) {
          killed = true;
          process.kill(pid, 'SIGKILL');
        }
      }
    };
    await assert.rejects(consume(), (e: unknown) => e instanceof OpenAI.APIError && /serving engine/.test((e as Error).message) && !(e as Error).message.includes(f.server.dataDir) && !/\/(work|home|tmp|usr)\//.test((e as Error).message));
    assert.ok(killed, 'the engine was killed mid-stream');
    const again = await f.mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 3 });
    assert.ok((again.usage.completionTokens ?? 0) > 0);
    assert.notEqual(enginePids()[0], pid);
  });
});

describe('models API for base models', () => {
  it('lists and retrieves base model cards that strict 1.15.1 and OpenAI parse', async () => {
    const list = await f.strict.models.list();
    const card = list.data?.find((m) => m.id === model);
    assert.ok(card && card.type === 'base');
    assert.equal(card.capabilities.completionChat, true);
    const one = await f.mistral.models.retrieve({ modelId: model });
    assert.equal((one as { type?: string }).type, 'base');
    const oa = await f.openai.models.retrieve(model);
    assert.equal(oa.id, model);
    assert.equal(typeof oa.created, 'number');
  });

  it('refuses to delete a base model and 404s unknown ids', async () => {
    await assert.rejects(f.openai.models.delete(model), (e: unknown) => e instanceof OpenAI.BadRequestError);
    await assert.rejects(f.openai.models.retrieve('ft:nope:00000000:20260101:00000000'), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });
});
