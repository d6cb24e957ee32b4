// Chat completions against Mistral's official spec through the official SDKs (issue #14): forced
// tool calls always call a tool, an assistant prefix is continued, unusable content chunks are
// refused by name, each dialect gets only its own fields, and the spec's bounds hold
// (temperature <= 1.5 for Mistral, max_tokens 0 allowed). Base model tiny-mistral: its text is
// random, so what is checked is the protocol and the grammar, never the words.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as MistralV1 } from 'mistralai-v1';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let mistral: Mistral;
let strict: MistralV1;
let openai: OpenAI;
const model = 'tiny-mistral';
const messages = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
// Enum arguments keep a random model's calls short, so a cut-off (finish `length`) cannot hide an empty call list.
const tool = (name: string, arg: string, values: string[]) => ({
  type: 'function' as const,
  function: { name, description: name, parameters: { type: 'object', properties: { [arg]: { enum: values } }, required: [arg], additionalProperties: false } },
});
const weather = tool('get_weather', 'city', ['Paris', 'Lyon']);
const time = tool('get_time', 'zone', ['UTC', 'CET']);

before(async () => {
  server = await startTestServer({ settings: { servingThreads: 1, servingMaxSeqLen: 512 } });
  mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
  strict = new MistralV1({ serverURL: server.url, apiKey: server.key });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
});

after(async () => {
  await server?.close();
});

/** A raw POST as a client without SDK headers sends it (the Mistral dialect). */
async function post(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('forced tool calls', () => {
  it('any, required and a named function always answer a tool call, whatever the seed', async () => {
    for (let seed = 0; seed < 4; seed++) {
      // parallel_tool_calls false: exactly one call (a random model otherwise appends calls until max_tokens).
      const any = await mistral.chat.complete({ model, messages, tools: [weather], toolChoice: 'any', parallelToolCalls: false, temperature: 1, randomSeed: seed, maxTokens: 60 });
      const a = any.choices[0];
      assert.equal(a.finishReason, 'tool_calls', `seed ${seed}: ${JSON.stringify(a.message)}`);
      assert.equal(a.message?.toolCalls?.length, 1);
      assert.equal(a.message?.toolCalls?.[0].function.name, 'get_weather');
      const named = await openai.chat.completions.create({
        model, messages, tools: [weather, time], tool_choice: { type: 'function', function: { name: 'get_time' } }, parallel_tool_calls: false, temperature: 1, seed, max_completion_tokens: 60,
      });
      const n = named.choices[0];
      assert.equal(n.finish_reason, 'tool_calls', `seed ${seed}: ${JSON.stringify(n.message)}`);
      const call = n.message.tool_calls?.[0];
      assert.ok(call?.type === 'function' && call.function.name === 'get_time');
      assert.ok(['UTC', 'CET'].includes((JSON.parse(call.function.arguments) as { zone: string }).zone));
      // With several tools only the name is constrained: the arguments may run long, never empty-handed.
      const required = await openai.chat.completions.create({ model, messages, tools: [weather, time], tool_choice: 'required', temperature: 1, seed, max_completion_tokens: 60 });
      const r = required.choices[0];
      if (r.finish_reason === 'length') assert.ok(!r.message.content && !r.message.tool_calls?.length);
      else assert.ok(r.finish_reason === 'tool_calls' && r.message.tool_calls?.length, `seed ${seed}: ${JSON.stringify(r)}`);
    }
  });

  it('a forced call cut off by max_tokens ends with length and is not passed off as content', async () => {
    const r = await mistral.chat.complete({ model, messages, tools: [weather], toolChoice: 'any', temperature: 0, maxTokens: 4 });
    const c = r.choices[0];
    assert.equal(c.finishReason, 'length');
    assert.ok(!c.message?.toolCalls?.length);
    assert.ok(!c.message?.content, `partial call leaked as content: ${JSON.stringify(c.message?.content)}`);
  });
});

describe('assistant prefix', () => {
  it('continues a last assistant message sent with prefix: true (Mistral 2.x and strict 1.15)', async () => {
    const prefix = 'The weather in Paris is';
    const conv = [...messages, { role: 'assistant' as const, content: prefix, prefix: true }];
    const r = await mistral.chat.complete({ model, messages: conv, temperature: 0, maxTokens: 8 });
    const text = r.choices[0].message?.content as string;
    assert.ok(text.startsWith(prefix) && text.length > prefix.length, text);
    assert.ok((r.usage.completionTokens ?? 0) > 0);
    const plain = await mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 1 });
    assert.ok((r.usage.promptTokens ?? 0) > (plain.usage.promptTokens ?? 0), 'the prefix is part of the prompt');
    const v1 = await strict.chat.complete({ model, messages: conv, temperature: 0, maxTokens: 8 });
    assert.equal(v1.choices?.[0].message.content, text);
    const stream = await mistral.chat.stream({ model, messages: conv, temperature: 0, maxTokens: 8 });
    let streamed = '';
    for await (const ev of stream) streamed += (ev.data.choices[0]?.delta.content as string | undefined) ?? '';
    assert.equal(streamed, text);
  });

  it('an assistant message last without prefix is still refused with 400', async () => {
    const r = await post({ model, messages: [...messages, { role: 'assistant', content: 'Sunny' }] });
    assert.equal(r.status, 400);
    assert.match(String(r.json.message), /prefix/);
  });
});

describe('content chunks', () => {
  it('answers 400 naming a chunk type the server cannot use (document_url, reference, input_audio, file)', async () => {
    await assert.rejects(
      mistral.chat.complete({ model, messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise' }, { type: 'document_url', documentUrl: 'https://example.com/a.pdf' }] }] }),
      (e: unknown) => (e as { statusCode?: number }).statusCode === 400 && /document_url/.test(String((e as { body?: string }).body)),
    );
    await assert.rejects(
      openai.chat.completions.create({ model, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /input_audio/.test(e.message),
    );
    for (const chunk of [{ type: 'reference', reference_ids: [1] }, { type: 'file', file: { file_id: 'x' } }]) {
      const r = await post({ model, messages: [{ role: 'user', content: [chunk] }] });
      assert.equal(r.status, 400);
      assert.match(String(r.json.message), new RegExp(`'${chunk.type}'`));
    }
    const ok = await post({ model, max_tokens: 2, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] });
    assert.equal(ok.status, 200);
  });
});

describe('dialect fields and spec bounds', () => {
  it('Mistral answers carry only AssistantMessage fields; OpenAI answers carry refusal and logprobs, not prefix', async () => {
    const m = await post({ model, messages, max_tokens: 3 });
    assert.equal(m.status, 200);
    const choice = (m.json.choices as Record<string, unknown>[])[0];
    assert.deepEqual(Object.keys(choice.message as object).sort(), ['content', 'prefix', 'role', 'tool_calls']);
    assert.ok(!('logprobs' in choice));
    const o = await openai.chat.completions.create({ model, messages, max_completion_tokens: 3 });
    const om = o.choices[0].message as unknown as Record<string, unknown>;
    assert.equal(om.refusal, null);
    assert.ok(!('prefix' in om));
    assert.ok('logprobs' in o.choices[0]);
  });

  it('temperature above 1.5 is refused for Mistral (422) and accepted up to 2 for OpenAI; max_tokens 0 answers an empty completion', async () => {
    await assert.rejects(mistral.chat.complete({ model, messages, temperature: 1.6, maxTokens: 2 }), (e: unknown) => (e as { statusCode?: number }).statusCode === 422);
    const hot = await openai.chat.completions.create({ model, messages, temperature: 1.9, max_completion_tokens: 2 });
    assert.ok(hot.choices[0].message.content !== undefined);
    const zero = await mistral.chat.complete({ model, messages, maxTokens: 0 });
    assert.equal(zero.choices[0].finishReason, 'length');
    assert.equal(zero.choices[0].message?.content, '');
    assert.equal(zero.usage.completionTokens, 0);
  });
});
