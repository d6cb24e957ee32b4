// Images in chat completions and the models API through the official SDKs (@mistralai/mistralai
// 2.7.0, openai) against a live server. The registry and refusal checks run on any checkout: a
// text-only base (tiny-mistral) and a vision base known only by its params.json (`vision_encoder`
// section, the Pixtral tokenizer, no weights: refusals happen before any engine starts). Answering
// with images needs the built-in tiny-pixtral (generated at server start by trainer/tiny_pixtral.py):
// those tests are skipped, with that reason, only in a checkout without that generator.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import OpenAI from 'openai';
import { encodePng, pngDataUrl, solidPng } from '../helpers/draw-png.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { referenceDataDir, repoRoot } from '../helpers/test-paths.ts';

const hasTinyPixtral = existsSync(path.join(repoRoot, 'trainer', 'tiny_pixtral.py'));
const noPixtral = hasTinyPixtral ? false : 'needs tiny-pixtral: trainer/tiny_pixtral.py (its generator) is not in this checkout';
const paramsOnly = 'vision-params-only';

let server: TestServer;
let mistral: Mistral;
let openai: OpenAI;

let modelsDir: string;

/** A models dir holding a vision base known by its params.json and tokenizer only (no weights). */
function visionParamsOnlyDir(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'atelier-vision-models-'));
  const dir = path.join(root, paramsOnly);
  mkdirSync(dir);
  const params = JSON.parse(readFileSync(path.join(repoRoot, 'models', 'tiny-mistral', 'params.json'), 'utf8')) as Record<string, unknown>;
  const encoder = { hidden_size: 64, num_channels: 3, image_size: 1024, patch_size: 16, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 2, image_token_id: 10 };
  writeFileSync(path.join(dir, 'params.json'), JSON.stringify({ ...params, vocab_size: 131072, vision_encoder: encoder }));
  copyFileSync(path.join(referenceDataDir(), 'tekken_240911.json'), path.join(dir, 'tekken.json'));
  return root;
}

before(async () => {
  modelsDir = visionParamsOnlyDir();
  server = await startTestServer({ settings: { servingThreads: 1, servingMaxSeqLen: 512, modelsDir } });
  mistral = new Mistral({ serverURL: server.url, apiKey: server.key });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.key, maxRetries: 0 });
});

after(async () => {
  await server?.close();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

const red = pngDataUrl(solidPng(32, 32, [220, 30, 30]));
const question = 'What colour is the shape?';

type SdkError = { statusCode?: number; body?: string };

/** The Mistral SDK's 400 whose body names `param` and whose message matches. */
function mistral400(message: RegExp, param: string) {
  return (e: unknown) => {
    const err = e as SdkError;
    assert.equal(err.statusCode, 400, String(e));
    const body = JSON.parse(err.body ?? '{}') as { message: string; param: string; error: { param: string } };
    assert.match(body.message, message);
    assert.equal(body.param, param);
    assert.equal(body.error.param, param);
    return true;
  };
}

/** The OpenAI SDK's BadRequestError naming `param`. */
function openai400(message: RegExp, param: string) {
  return (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.match(e.message, message);
    assert.equal(e.param, param);
    return true;
  };
}

type Card = { id: string; capabilities: { vision: boolean } };

/** A model card through the Mistral SDK (its union has an UNKNOWN member, so the fields are asserted here). */
async function retrieve(modelId: string): Promise<Card> {
  const card = (await mistral.models.retrieve({ modelId })) as Partial<Card>;
  assert.equal(card.id, modelId);
  assert.equal(typeof card.capabilities?.vision, 'boolean');
  return card as Card;
}

describe('capabilities.vision in the models API', () => {
  it('is true for a base with a vision encoder and false for a text-only base, in list and retrieve (both SDKs)', async () => {
    const listed = (await mistral.models.list()).data as Card[];
    const vision = (id: string) => listed.find((m) => m.id === id)?.capabilities.vision;
    assert.equal(vision('tiny-mistral'), false);
    assert.equal(vision(paramsOnly), true);
    assert.equal((await retrieve(paramsOnly)).capabilities.vision, true);
    assert.equal((await retrieve('tiny-mistral')).capabilities.vision, false);
    const oa = (await openai.models.retrieve(paramsOnly)) as unknown as { capabilities: { vision: boolean } };
    assert.equal(oa.capabilities.vision, true);
  });

  it('is true for tiny-pixtral', { skip: noPixtral }, async () => {
    assert.equal((await retrieve('tiny-pixtral')).capabilities.vision, true);
  });
});

describe('image chunks refused before any engine', () => {
  it('a text-only model answers 400 naming the chunk, in both dialects, streamed or not', async () => {
    const content = [{ type: 'text' as const, text: question }, { type: 'image_url' as const, imageUrl: red }];
    const why = /messages\[0\]\.content\[1\]: 'tiny-mistral' is a text-only model/;
    await assert.rejects(mistral.chat.complete({ model: 'tiny-mistral', messages: [{ role: 'user', content }] }), mistral400(why, 'messages.0.content.1'));
    await assert.rejects(mistral.chat.stream({ model: 'tiny-mistral', messages: [{ role: 'user', content }] }), mistral400(why, 'messages.0.content.1'));
    const oaContent = [{ type: 'text' as const, text: question }, { type: 'image_url' as const, image_url: { url: red, detail: 'low' as const } }];
    await assert.rejects(openai.chat.completions.create({ model: 'tiny-mistral', messages: [{ role: 'user', content: oaContent }] }), openai400(why, 'messages.0.content.1'));
    await assert.rejects(openai.chat.completions.create({ model: 'tiny-mistral', stream: true, messages: [{ role: 'user', content: oaContent }] }), openai400(why, 'messages.0.content.1'));
  });

  it('a remote image URL answers 400 while remote images are off, in both dialects', async () => {
    const why = /messages\[1\]\.content\[0\]: remote images are off on this server/;
    const messages = (chunk: Record<string, unknown>) => [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [chunk, { type: 'text', text: question }] }];
    await assert.rejects(
      mistral.chat.complete({ model: paramsOnly, messages: messages({ type: 'image_url', imageUrl: 'https://example.com/cat.png' }) as never }),
      mistral400(why, 'messages.1.content.0'),
    );
    await assert.rejects(
      openai.chat.completions.create({ model: paramsOnly, messages: messages({ type: 'image_url', image_url: { url: 'http://169.254.169.254/latest' } }) as never }),
      openai400(why, 'messages.1.content.0'),
    );
  });

  it('an image in an assistant message and a corrupt image answer 400 naming the chunk', async () => {
    await assert.rejects(
      openai.chat.completions.create({
        model: paramsOnly,
        messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'image_url', image_url: { url: red } }] as never }, { role: 'user', content: question }],
      }),
      openai400(/messages\[1\]\.content\[0\]: images are only accepted in user messages/, 'messages.1.content.0'),
    );
    const truncated = `data:image/png;base64,${solidPng(8, 8, [0, 0, 0]).subarray(0, 20).toString('base64')}`;
    await assert.rejects(
      mistral.chat.complete({ model: paramsOnly, messages: [{ role: 'user', content: [{ type: 'image_url', imageUrl: { url: truncated } }] }] }),
      mistral400(/messages\[0\]\.content\[0\]: the image .*truncated/, 'messages.0.content.0'),
    );
  });
});

describe('answering with images on tiny-pixtral', { skip: noPixtral }, () => {
  const model = 'tiny-pixtral';
  const userImage = (imageUrl: string | { url: string }) => [{ role: 'user' as const, content: [{ type: 'image_url' as const, imageUrl }, { type: 'text' as const, text: question }] }];

  it('accepts the image chunk in both dialects with the same encoding and answer', async () => {
    const text = await mistral.chat.complete({ model, messages: [{ role: 'user', content: question }], temperature: 0, maxTokens: 8 });
    const asString = await mistral.chat.complete({ model, messages: userImage(red), temperature: 0, maxTokens: 8 });
    const asObject = await mistral.chat.complete({ model, messages: userImage({ url: red }), temperature: 0, maxTokens: 8 });
    const oa = await openai.chat.completions.create({
      model, temperature: 0, max_completion_tokens: 8,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: red, detail: 'high' } }, { type: 'text', text: question }] }],
    });
    // 32x32 at patch 16: 2 rows of 2 [IMG], closed by [IMG_BREAK] and [IMG_END]: 6 tokens.
    assert.equal(asString.usage.promptTokens, (text.usage.promptTokens ?? 0) + 6);
    assert.equal(asObject.usage.promptTokens, asString.usage.promptTokens);
    assert.equal(oa.usage?.prompt_tokens, asString.usage.promptTokens);
    const answer = asString.choices[0].message?.content;
    assert.equal(typeof answer, 'string');
    assert.equal(asObject.choices[0].message?.content, answer);
    assert.equal(oa.choices[0].message.content, answer);
  });

  it('streams, follows json_object and forced tool calls with an image', async () => {
    const full = await mistral.chat.complete({ model, messages: userImage(red), temperature: 0, maxTokens: 12 });
    let streamed = '';
    for await (const ev of await mistral.chat.stream({ model, messages: userImage(red), temperature: 0, maxTokens: 12 })) {
      streamed += (ev.data.choices[0]?.delta.content as string | undefined) ?? '';
    }
    assert.equal(streamed, full.choices[0].message?.content);
    const json = await mistral.chat.complete({ model, messages: userImage(red), temperature: 0, maxTokens: 40, responseFormat: { type: 'json_object' } });
    if (json.choices[0].finishReason === 'stop') assert.doesNotThrow(() => JSON.parse(json.choices[0].message?.content as string));
    else assert.equal(json.choices[0].finishReason, 'length');
    const tools = [{ type: 'function' as const, function: { name: 'report_colour', description: 'The colour seen', parameters: { type: 'object', properties: { colour: { type: 'string' } }, required: ['colour'] } } }];
    const called = await mistral.chat.complete({ model, messages: userImage(red), tools, toolChoice: 'any', temperature: 0, maxTokens: 60 });
    const choice = called.choices[0];
    if (choice.finishReason === 'tool_calls') assert.equal(choice.message?.toolCalls?.[0]?.function.name, 'report_colour');
    else assert.equal(choice.finishReason, 'length', JSON.stringify(choice));
  });

  it('batches requests with different images and text-only ones, each answering as it does alone', async () => {
    const blue = pngDataUrl(encodePng(48, 32, (x) => (x < 24 ? [20, 40, 200] : [250, 250, 250])));
    const requests = [userImage(red), userImage(blue), [{ role: 'user' as const, content: question }], userImage({ url: blue })];
    const alone: string[] = [];
    for (const messages of requests) alone.push((await mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 10 })).choices[0].message?.content as string);
    const together = await Promise.all(requests.map((messages) => mistral.chat.complete({ model, messages, temperature: 0, maxTokens: 10 })));
    assert.deepEqual(together.map((r) => r.choices[0].message?.content), alone);
    assert.equal(alone[1], alone[3]);
  });
});
