// The classification request parsers and response shapes (reference §4): inputs in both SDK
// generations' keys, a single string/conversation as one input, moderation flattening (labels only
// with one target, target/label with several), and the refusal of a completion model.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FineTunedModelRecord } from '../store/index.ts';
import {
  chatClassificationInputs, chatClassificationSchema, chatModerationInputs, chatModerationSchema, ClassifierInputError, classifierTargetsOf,
  renderClassification, renderModeration, textClassificationSchema, textInputs,
} from './classifier-requests.ts';

const user = (content: string) => ({ role: 'user', content });

test('inputs: a string or a list, under input (2.x) or inputs (1.x); conversations one or many', () => {
  assert.deepEqual(textInputs(textClassificationSchema.parse({ model: 'm', input: 'a' })), { kind: 'text', texts: ['a'] });
  assert.deepEqual(textInputs(textClassificationSchema.parse({ model: 'm', inputs: ['a', 'b'] })), { kind: 'text', texts: ['a', 'b'] });
  assert.deepEqual(chatClassificationInputs(chatClassificationSchema.parse({ model: 'm', input: { messages: [user('x')] } })).kind, 'chat');
  const many = chatClassificationInputs(chatClassificationSchema.parse({ model: 'm', input: [{ messages: [user('x')] }, { messages: [user('y')] }] }));
  assert.equal(many.kind === 'chat' && many.conversations.length, 2);
  const one = chatModerationInputs(chatModerationSchema.parse({ model: 'm', input: [user('x'), { role: 'assistant', content: 'y' }] }));
  assert.equal(one.kind === 'chat' && one.conversations.length, 1);
  const two = chatModerationInputs(chatModerationSchema.parse({ model: 'm', input: [[user('x')], [user('y')]] }));
  assert.equal(two.kind === 'chat' && two.conversations.length, 2);
  assert.throws(() => textInputs(textClassificationSchema.parse({ model: 'm' })), ClassifierInputError);
});

test('classification results keep targets and labels; moderation flattens one target to its labels', () => {
  const scores = [{ spam: { yes: 0.8, no: 0.2 } }, { spam: { yes: 0.1, no: 0.9 } }];
  const c = renderClassification('ft:x', scores);
  assert.match(String(c.id), /^cls-/);
  assert.deepEqual(c.results, [{ spam: { scores: { yes: 0.8, no: 0.2 } } }, { spam: { scores: { yes: 0.1, no: 0.9 } } }]);
  const m = renderModeration('ft:x', [{ name: 'spam', labels: ['yes', 'no'], multi: false }], scores);
  assert.deepEqual(m.results, [
    { categories: { yes: true, no: false }, category_scores: { yes: 0.8, no: 0.2 } },
    { categories: { yes: false, no: true }, category_scores: { yes: 0.1, no: 0.9 } },
  ]);
});

test('moderation with several targets names categories target/label; multi_class flags at 0.5', () => {
  const targets = [{ name: 'topic', labels: ['a', 'b'], multi: false }, { name: 'tags', labels: ['x', 'y'], multi: true }];
  const m = renderModeration('ft:x', targets, [{ topic: { a: 0.3, b: 0.7 }, tags: { x: 0.5, y: 0.49 } }]);
  assert.deepEqual(m.results, [{
    categories: { 'topic/a': false, 'topic/b': true, 'tags/x': true, 'tags/y': false },
    category_scores: { 'topic/a': 0.3, 'topic/b': 0.7, 'tags/x': 0.5, 'tags/y': 0.49 },
  }]);
});

test('a completion model is refused with a message naming classifier fine-tuning', () => {
  const model = { id: 'ft:tiny:1', modelType: 'completion', classifierTargets: null } as unknown as FineTunedModelRecord;
  assert.throws(() => classifierTargetsOf(model), (e: Error) => e instanceof ClassifierInputError && /job_type "classifier"/.test(e.message));
  const cls = { id: 'ft:tiny:2', modelType: 'classifier', classifierTargets: [{ name: 't', labels: ['a'], weight: 1, loss_function: 'multi_class' }] } as unknown as FineTunedModelRecord;
  assert.deepEqual(classifierTargetsOf(cls), [{ name: 't', labels: ['a'], multi: true }]);
});
