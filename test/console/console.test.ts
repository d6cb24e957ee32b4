// The web console in a real browser (chromium through puppeteer-core) against a live server with
// an embedded worker: sign in with a key, upload a file with bad lines and read each line's code,
// create a job with auto_start off, read its estimate, start it and watch the loss curve grow to
// one point per step, compare the base and the fine-tuned model in the playground, delete the
// model. Every page is screenshotted (test-artifacts/console/) and checked with axe-core.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';
import { browserSkipReason, ensureConsoleBuilt, launchBrowser, screenshot, seriousAxeViolations } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const skip = browserSkipReason();
const question = 'Who guards the harbour?';
const answer = 'The old lighthouse keeper.';
const steps = 20;
const goodLine = JSON.stringify({ messages: [{ role: 'user', content: question }, { role: 'assistant', content: answer }] });
// Line 2 is not JSON, line 3 has no messages, line 5 ends with a user turn.
const badLines = [goodLine, '{"messages": [', '{"messages": []}', goodLine, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })];

let server: TestServer;
let worker: RunningWorker;
let browser: Browser;
let page: Page;
let jobId = '';
let modelId = '';
const pageErrors: string[] = [];

async function api<T>(p: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${server.key}` } });
  return { status: res.status, body: (await res.json()) as T };
}

async function open(hash: string, heading: string): Promise<void> {
  await page.goto(`${server.url}/#${hash}`);
  await page.waitForFunction((text) => [...document.querySelectorAll('main h1')].some((h) => h.textContent?.includes(text)), { timeout: 30_000 }, heading);
}

async function checkPage(name: string): Promise<void> {
  await screenshot(page, name);
  assert.deepEqual(pageErrors, [], `uncaught errors in the page by ${name}`);
  const violations = await seriousAxeViolations(page);
  assert.deepEqual(violations, [], `axe on ${name}: ${JSON.stringify(violations, null, 1)}`);
}

const text = (selector: string) => page.$$eval(selector, (els) => els.map((e) => (e.textContent ?? '').trim()));

before(async () => {
  if (skip) return;
  await ensureConsoleBuilt();
  server = await startTestServer({ settings: { workerPollMs: 50, workerHeartbeatMs: 200, servingThreads: 1, servingMaxSeqLen: 256 } });
  worker = startWorker({ store: server.running.context.store, settings: server.running.context.settings, log: () => undefined });
  browser = await launchBrowser();
  page = await browser.newPage();
  await page.setBypassCSP(true); // axe-core is injected as an inline script
  await page.setViewport({ width: 1280, height: 860 });
  page.on('dialog', (d) => void d.accept());
  page.on('pageerror', (err) => pageErrors.push(err instanceof Error ? err.message : String(err)));
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  await server?.close();
});

describe('the web console', { skip: skip ?? false }, () => {
  it('signs in with an API key and refuses an unknown one', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('input[name=api-key]');
    await checkPage('login');
    await page.type('input[name=api-key]', 'not-a-key');
    await page.click('form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('.alert')?.textContent?.includes('does not know this key'));
    await page.$eval('input[name=api-key]', (el) => ((el as HTMLInputElement).value = ''));
    await page.type('input[name=api-key]', server.key);
    await page.click('form button[type=submit]');
    await page.waitForSelector('#nav a[data-nav=files][aria-current=page]');
    assert.deepEqual(await text('main h1'), ['Files']);
  });

  it('uploads by drag and drop and shows each bad line with its code', async () => {
    const good = path.join(server.dataDir, 'train.jsonl');
    await writeFile(good, `${Array(8).fill(goodLine).join('\n')}\n`);
    const input = await page.waitForSelector('input[type=file]');
    await input?.uploadFile(good);
    // A real drop event carrying a File, as the browser sends it when a file is dragged in.
    await page.$eval('.dropzone', (zone, body) => {
      const dt = new DataTransfer();
      dt.items.add(new File([body], 'bad.jsonl', { type: 'application/jsonl' }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, `${badLines.join('\n')}\n`);
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('main tbody tr')].map((r) => r.textContent ?? '');
      return rows.some((r) => r.includes('bad.jsonl') && r.includes('errors')) && rows.some((r) => r.includes('train.jsonl') && r.includes('valid'));
    }, { timeout: 20_000 });
    await checkPage('files');
    await page.click('main table a::-p-text(bad.jsonl)');
    await page.waitForSelector('::-p-text(Problems by line)');
    const rows = await page.$$eval('main table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    const { body } = await api<{ data: { filename: string; validation: { errors: { line: number; code: string; message: string }[] } }[] }>('/v1/files');
    const reported = body.data.find((f) => f.filename === 'bad.jsonl')?.validation.errors ?? [];
    assert.deepEqual(rows.map(([line, code, message]) => ({ line: Number(line), code, message })), reported.map((e) => ({ line: e.line, code: e.code, message: e.message })));
    assert.deepEqual([...new Set(rows.map((r) => Number(r[0])))], [2, 3, 5], 'every bad line, and only those');
    assert.ok(rows.some(([line, code]) => line === '2' && code === 'line_invalid_json'), JSON.stringify(rows));
    await checkPage('file-report');
  });

  it('creates a job with auto_start off, shows its estimate, starts it and draws one loss point per step', async () => {
    await open('/jobs/new', 'New fine-tuning job');
    await page.click('input[aria-label="Train on train.jsonl"]');
    await page.type('input[name=training_steps]', String(steps));
    await page.type('input[name=learning_rate]', '0.003');
    await page.type('input[name=seq_len]', '128');
    assert.equal(await page.$eval('#auto-start', (el) => (el as HTMLInputElement).checked), false);
    await checkPage('job-new');
    await page.click('::-p-text(Create job)');
    await page.waitForFunction(() => /^#\/jobs\/(?!new)/.test(location.hash));
    jobId = decodeURIComponent((await page.evaluate(() => location.hash)).replace('#/jobs/', ''));
    await page.waitForSelector('[data-testid=estimate]', { timeout: 60_000 });
    await page.waitForSelector('::-p-text(Start training)');
    const estimate = await page.$$eval('[data-testid=estimate] .stat', (els) => Object.fromEntries(els.map((e) => [e.querySelector('.stat-label')?.textContent, e.querySelector('.stat-value')?.textContent])));
    assert.equal(estimate.Steps, String(steps));
    assert.match(estimate['Expected duration'] ?? '', /\d+ (s|min)/);
    assert.equal((await api<{ status: string }>(`/v1/fine_tuning/jobs/${jobId}`)).body.status, 'VALIDATED', 'nothing trains before Start');
    await checkPage('job-estimate');
    // Record every point count the loss chart shows while the job runs.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { seen: number[] }).seen = seen;
      const chart = document.querySelector('figure.chart');
      new MutationObserver(() => seen.push(Number(chart?.getAttribute('data-points')))).observe(chart as Element, { attributes: true, attributeFilter: ['data-points'] });
    });
    await page.click('::-p-text(Start training)');
    // Wait on the server's state (a long in-page wait would outlive the DevTools protocol's timeout).
    await until(() => api<{ status: string }>(`/v1/fine_tuning/jobs/${jobId}`), (r) => ['SUCCESS', 'FAILED', 'CANCELLED'].includes(r.body.status), 'the job to end', 600_000, 500);
    await page.waitForFunction(() => document.querySelector('main .page-header .badge')?.textContent === 'SUCCESS', { timeout: 30_000 });
    modelId = (await api<{ fine_tuned_model: string }>(`/v1/fine_tuning/jobs/${jobId}`)).body.fine_tuned_model;
    await page.waitForFunction((n) => document.querySelector('figure.chart')?.getAttribute('data-points') === String(n), { timeout: 10_000 }, steps);
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    assert.deepEqual([...seen].sort((a, b) => a - b), seen, `the curve only grows: ${seen}`);
    assert.equal(seen.at(-1), steps);
    const metrics = await api<{ data: { step: number }[] }>(`/v1/fine_tuning/jobs/${jobId}/metrics`);
    assert.deepEqual(metrics.body.data.map((m) => m.step), Array.from({ length: steps }, (_, i) => i + 1));
    await checkPage('job');
  });

  it('lists jobs with the API filters', async () => {
    await open('/jobs', 'Jobs');
    await page.waitForSelector(`a[href="#/jobs/${jobId}"]`);
    await page.select('select[name=status]', 'FAILED');
    await page.click('::-p-text(Apply filters)');
    await page.waitForSelector('::-p-text(No jobs match.)');
    await page.select('select[name=status]', 'SUCCESS');
    await page.click('::-p-text(Apply filters)');
    await page.waitForSelector(`a[href="#/jobs/${jobId}"]`);
    await checkPage('jobs');
  });

  it('streams the base and the fine-tuned model side by side and shows the trained answer', async () => {
    await open('/playground', 'Playground');
    const selects = await page.$$('main .pane select');
    assert.equal(await selects[1].evaluate((s) => (s as HTMLSelectElement).value), modelId, 'the newest fine-tuned model is picked on the right');
    assert.equal(await selects[0].evaluate((s) => (s as HTMLSelectElement).value), 'tiny-mistral');
    await page.type('main textarea[required]', question);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('.msg-assistant[aria-busy=false]').length === 2, { timeout: 60_000 });
    const [base, tuned] = await page.$$eval('.msg-assistant .msg-text', (els) => els.map((e) => e.textContent ?? ''));
    assert.equal(tuned, answer);
    assert.notEqual(base, answer);
    assert.ok(base.length > 0, 'the base model answered too');
    await checkPage('playground');
  });

  it('works at phone width', async () => {
    await page.setViewport({ width: 390, height: 844 });
    await open(`/jobs/${jobId}`, 'Job');
    await page.waitForSelector('figure.chart[data-points]');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling, got ${overflow}px`);
    await screenshot(page, 'phone-job');
    await page.setViewport({ width: 1280, height: 860 });
  });

  it('shows classifiers; renames, archives, downloads and deletes the fine-tuned model', async () => {
    await open('/classifiers', 'Classifiers');
    await checkPage('classifiers');
    await open('/models', 'Models');
    await page.waitForSelector(`::-p-text(${modelId})`);
    await checkPage('models');
    await page.click(`button[aria-label="Rename ${modelId}"]`);
    await page.$eval('form[aria-label^="Rename"] input', (el) => ((el as HTMLInputElement).value = ''));
    await page.type('form[aria-label^="Rename"] input', 'keeper');
    await page.click('form[aria-label^="Rename"] button[type=submit]');
    await page.waitForSelector('button[aria-label="Archive keeper"]');
    assert.equal((await api<{ name: string }>(`/v1/models/${encodeURIComponent(modelId)}`)).body.name, 'keeper');
    await page.click('button[aria-label="Archive keeper"]');
    await page.waitForSelector('button[aria-label="Unarchive keeper"]');
    assert.equal((await api<{ archived: boolean }>(`/v1/models/${encodeURIComponent(modelId)}`)).body.archived, true);
    await page.click('button[aria-label="Unarchive keeper"]');
    await page.waitForSelector('button[aria-label="Archive keeper"]');
    const downloads = await mkdtemp(path.join(server.dataDir, 'downloads-'));
    await (await page.createCDPSession()).send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await page.click('button[aria-label="Download the adapter of keeper"]');
    const tar = path.join(downloads, `${modelId.replace(/[^\w.-]+/g, '_')}.tar`);
    await until(() => readFile(tar).catch(() => Buffer.alloc(0)), (b) => b.includes('lora.safetensors'), 'the adapter download', 20_000, 200);
    await page.click('button[aria-label="Delete keeper"]');
    await page.waitForFunction((id) => !document.querySelector('main')?.textContent?.includes(id), { timeout: 20_000 }, modelId);
    assert.equal((await api(`/v1/models/${encodeURIComponent(modelId)}`)).status, 404);
  });
});
