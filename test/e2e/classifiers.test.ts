// Classifier fine-tuning and the classification endpoints through the official SDKs, on tiny-mistral:
// a job created with mistralai-ft 2.4.0 (job_type "classifier", a single_class keyword target and a
// multi_class colour target, text and conversation samples) trains with the embedded worker; its
// details and model are read with mistralai-v1 1.15.1 (strict); @mistralai/mistralai 2.7.0's
// classify / classifyChat / moderate / moderateChat score a held-out set.
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as MistralFt } from 'mistralai-ft';
import { Mistral as MistralV1 } from 'mistralai-v1';
import { classifierJob, endedStatuses } from '../helpers/jobs.ts';
import type { TestServer } from '../helpers/server.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { until } from '../helpers/wait.ts';
import type { RunningWorker } from '../../src/worker/index.ts';

const TOPICS = ['apple', 'river', 'stone'];
const COLOURS = ['red', 'blue'];
const FILLER = ['the', 'a', 'walk', 'slow', 'quiet', 'morning', 'over', 'near', 'light', 'old', 'small', 'house', 'path', 'day'];
type Row = { text: string; topic: string; colours: string[] };

/** A seeded generator (mulberry32): the data set is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Texts hiding one topic keyword and any colour words among filler words. */
function synthetic(n: number, seed: number): Row[] {
  const r = random(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)] as T;
  return Array.from({ length: n }, () => {
    const topic = pick(TOPICS);
    const colours = COLOURS.filter(() => r() < 0.5);
    const words = [...Array.from({ length: 3 + Math.floor(r() * 4) }, () => pick(FILLER)), topic, ...colours];
    for (let i = words.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [words[i], words[j]] = [words[j] as string, words[i] as string];
    }
    return { text: words.join(' '), topic, colours };
  });
}

/** Half the lines as `text`, half as a one-turn conversation (`messages`). */
function jsonl(rows: Row[]): string {
  return rows.map((row, i) => JSON.stringify({
    ...(i % 2 ? { messages: [{ role: 'user', content: row.text }] } : { text: row.text }),
    labels: { topic: row.topic, colours: row.colours },
  })).join('\n') + '\n';
}

const targets = [
  { name: 'topic', labels: TOPICS, weight: 1, lossFunction: 'single_class' as const },
  { name: 'colours', labels: COLOURS, weight: 0.5, lossFunction: 'multi_class' as const },
];

type Fixture = { server: TestServer; worker: RunningWorker; mistral: Mistral; ft: MistralFt; strict: MistralV1; jobId: string; model: string };
let f: Fixture;
let stack: TestStack | undefined;
const heldOut = synthetic(60, 3);

before(async () => {
  stack = await startTestStack({ settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1 } });
  const { server, worker } = stack;
  const ft = new MistralFt({ serverURL: server.url, apiKey: server.key });
  const upload = async (name: string, rows: Row[]) => {
    const file = path.join(server.dataDir, name);
    await writeFile(file, jsonl(rows));
    return (await ft.files.upload({ file: { fileName: name, content: await openAsBlob(file) } })).id;
  };
  const train = await upload('train.jsonl', synthetic(320, 1));
  const valid = await upload('valid.jsonl', synthetic(80, 2));
  // 2.4.0 answers a union (job variants or legacy metadata; unknown shapes parse silently as UNKNOWN).
  const job = classifierJob(await ft.fineTuning.jobs.create({
    model: 'tiny-mistral', jobType: 'classifier', trainingFiles: [{ fileId: train, weight: 1 }], validationFiles: [valid],
    hyperparameters: { trainingSteps: 120, learningRate: 0.003, seqLen: 128, weightDecay: 0 }, classifierTargets: targets, suffix: 'kw',
  }));
  const strict = new MistralV1({ serverURL: server.url, apiKey: server.key });
  const done = await until(() => strict.fineTuning.jobs.get({ jobId: job.id }), (j) => endedStatuses.includes(j.status), 'the classifier job to end', 180_000);
  assert.equal(done.status, 'SUCCESS', JSON.stringify(done).slice(0, 1500));
  f = { server, worker, ft, strict, mistral: new Mistral({ serverURL: server.url, apiKey: server.key }), jobId: done.id, model: done.fineTunedModel ?? '' };
});

after(async () => {
  await stack?.stop();
});

describe('classifier fine-tuning', () => {
  it('job details (1.15.1 strict) carry the targets with weight and loss_function, and per-target checkpoint metrics', async () => {
    const job = await f.strict.fineTuning.jobs.get({ jobId: f.jobId });
    assert.equal(job.jobType, 'classifier');
    if (job.jobType !== 'classifier') return;
    assert.deepEqual(job.classifierTargets.map((t) => [t.name, t.labels, t.weight, t.lossFunction]),
      [['topic', TOPICS, 1, 'single_class'], ['colours', COLOURS, 0.5, 'multi_class']]);
    assert.deepEqual(job.events?.map((e) => e.data?.status).reverse(), ['QUEUED', 'STARTED', 'VALIDATING', 'VALIDATED', 'QUEUED', 'RUNNING', 'SUCCESS']);
    assert.ok(f.model.startsWith('ft:tiny-mistral:kw:'));
    const last = job.checkpoints?.[0];
    assert.equal(last?.stepNumber, 120);
    assert.ok((last?.metrics.validMeanTokenAccuracy ?? 0) >= 0.9, JSON.stringify(last));
    // The classifier extension is in the raw body (the SDKs drop keys they do not know).
    const raw = await fetch(`${f.server.url}/v1/fine_tuning/jobs/${f.jobId}`, { headers: { authorization: `Bearer ${f.server.key}` } });
    const body = (await raw.json()) as { checkpoints: { metrics: { classifier: Record<string, { accuracy: number; macro_f1: number }> } }[] };
    const metrics = body.checkpoints[0]?.metrics.classifier;
    console.log(`classifier validation metrics at step 120: ${JSON.stringify(metrics)}`);
    assert.ok((metrics?.topic?.accuracy ?? 0) >= 0.9 && (metrics?.colours?.accuracy ?? 0) >= 0.9, JSON.stringify(metrics));
  });

  it('the model is a classifier: card (1.15.1 strict) and fine-tuned model object (2.7.0) with its targets', async () => {
    const card = await f.strict.models.retrieve({ modelId: f.model });
    assert.equal(card.type, 'fine-tuned');
    assert.equal(card.capabilities.classification, true);
    assert.equal(card.capabilities.completionChat, false);
    const updated = await f.mistral.models.update({ modelId: f.model, updateModelRequest: { name: 'keywords' } });
    assert.equal(updated.modelType, 'classifier');
    if (updated.modelType !== 'classifier') return;
    assert.deepEqual(updated.classifierTargets.map((t) => [t.name, t.labels, t.lossFunction]), [['topic', TOPICS, 'single_class'], ['colours', COLOURS, 'multi_class']]);
  });
});

/** Share of held-out rows whose topic (argmax) and colours (score >= 0.5) are right. */
function accuracy(scores: { topic: Record<string, number>; colours: Record<string, number> }[], rows: Row[]) {
  let topic = 0;
  let colour = 0;
  scores.forEach((s, i) => {
    const row = rows[i] as Row;
    const best = Object.entries(s.topic).sort((a, b) => b[1] - a[1])[0]?.[0];
    if (best === row.topic) topic += 1;
    for (const c of COLOURS) if ((s.colours[c] ?? 0) >= 0.5 === row.colours.includes(c)) colour += 1;
  });
  return { topic: topic / rows.length, colours: colour / (rows.length * COLOURS.length) };
}

describe('classifications and moderations through @mistralai/mistralai 2.7.0', () => {
  it('classify: one result per input with every target and label, accurate on a held-out set', async () => {
    const res = await f.mistral.classifiers.classify({ model: f.model, inputs: heldOut.map((r) => r.text) });
    assert.equal(res.model, f.model);
    assert.equal(res.results.length, heldOut.length);
    const scores = res.results.map((r) => ({ topic: r.topic?.scores ?? {}, colours: r.colours?.scores ?? {} }));
    for (const s of scores) {
      assert.deepEqual(Object.keys(s.topic), TOPICS);
      assert.ok(Math.abs(Object.values(s.topic).reduce((a, b) => a + b, 0) - 1) < 1e-4, 'single_class scores are a softmax');
    }
    const acc = accuracy(scores, heldOut);
    console.log(`held-out accuracy through classifiers.classify: ${JSON.stringify(acc)}`);
    assert.ok(acc.topic >= 0.9 && acc.colours >= 0.9, JSON.stringify(acc));
    const single = await f.mistral.classifiers.classify({ model: f.model, inputs: heldOut[0]?.text ?? '' });
    assert.equal(single.results.length, 1, 'a single string is one input');
  });

  it('classifyChat: conversations are scored like their training samples', async () => {
    const rows = heldOut.slice(0, 30);
    const res = await f.mistral.classifiers.classifyChat({ model: f.model, input: rows.map((r) => ({ messages: [{ role: 'user' as const, content: r.text }] })) });
    assert.equal(res.results.length, rows.length);
    const acc = accuracy(res.results.map((r) => ({ topic: r.topic?.scores ?? {}, colours: r.colours?.scores ?? {} })), rows);
    assert.ok(acc.topic >= 0.9 && acc.colours >= 0.85, JSON.stringify(acc));
  });

  it('moderate and moderateChat: categories flattened as target/label, flags from argmax and the 0.5 threshold', async () => {
    const rows = heldOut.slice(0, 10);
    const res = await f.mistral.classifiers.moderate({ model: f.model, inputs: rows.map((r) => r.text) });
    assert.equal(res.results.length, rows.length);
    const names = [...TOPICS.map((l) => `topic/${l}`), ...COLOURS.map((l) => `colours/${l}`)];
    for (const r of res.results) {
      assert.deepEqual(Object.keys(r.categoryScores ?? {}), names);
      assert.equal(TOPICS.filter((l) => r.categories?.[`topic/${l}`]).length, 1, 'one topic flagged');
      for (const c of COLOURS) assert.equal(r.categories?.[`colours/${c}`], (r.categoryScores?.[`colours/${c}`] ?? 0) >= 0.5);
    }
    const flagged = res.results.map((r) => TOPICS.find((l) => r.categories?.[`topic/${l}`]));
    assert.ok(flagged.filter((t, i) => t === rows[i]?.topic).length >= 9, JSON.stringify(flagged));
    const chat = await f.mistral.classifiers.moderateChat({ model: f.model, inputs: [[{ role: 'user', content: rows[0]?.text ?? '' }], [{ role: 'user', content: rows[1]?.text ?? '' }]] });
    assert.equal(chat.results.length, 2);
    const one = await f.mistral.classifiers.moderateChat({ model: f.model, inputs: [{ role: 'user', content: rows[0]?.text ?? '' }] });
    assert.equal(one.results.length, 1, 'a single conversation is one input');
  });

  it('a base model or a missing model is refused with a clear 4xx', async () => {
    await assert.rejects(f.mistral.classifiers.classify({ model: 'tiny-mistral', inputs: ['x'] }),
      (e: { statusCode?: number; body?: string }) => e.statusCode === 400 && /base model.*job_type "classifier"/.test((JSON.parse(e.body ?? '{}') as { message?: string }).message ?? ''));
    await assert.rejects(f.mistral.classifiers.moderate({ model: 'ft:nope', inputs: ['x'] }), (e: { statusCode?: number }) => e.statusCode === 404);
    const raw = await fetch(`${f.server.url}/v1/classifications`, { method: 'POST', headers: { authorization: `Bearer ${f.server.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: f.model }) });
    assert.equal(raw.status, 400);
    assert.match(((await raw.json()) as { message: string }).message, /needs "input"/);
  });
});
