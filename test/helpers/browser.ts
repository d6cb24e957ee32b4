/**
 * A real browser for the console tests: Debian's chromium driven by puppeteer-core (headless,
 * --no-sandbox for containers), the console built on demand, screenshots under test-artifacts/
 * and an axe-core accessibility check injected into the page.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { consoleDistDir } from '../../src/api/console-assets.ts';

const root = path.resolve(import.meta.dirname, '../..');
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const artifactsDir = path.join(root, 'test-artifacts', 'console');
const axePath = path.join(root, 'node_modules', 'axe-core', 'axe.min.js');

/** Why browser tests cannot run here, or null when they can. */
export function browserSkipReason(): string | null {
  if (!existsSync(chromiumPath)) return `no chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`;
  return null;
}

/** Builds the console (npm run console:build) when its output is missing. */
export async function ensureConsoleBuilt(): Promise<void> {
  if (existsSync(path.join(consoleDistDir, 'index.html'))) return;
  await promisify(execFile)('npm', ['run', '--silent', 'console:build'], { cwd: root });
}

export async function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'], protocolTimeout: 120_000 });
}

/** Saves a full-page PNG as test-artifacts/console/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export type AxeViolation = { id: string; impact: string | null; help: string; nodes: string[] };

/** Runs axe-core on the page; returns the serious and critical violations. */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: axePath });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run(document);
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
