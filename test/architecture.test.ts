/**
 * The import graph of src/: no cycles, and between parts only the arrows listed in
 * scripts/architecture-parts.json (rules in .dependency-cruiser.cjs), each part entered through its
 * index.ts. A new cycle or a forbidden arrow fails here with the offending files.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const root = path.resolve(import.meta.dirname, '..');
const parts = JSON.parse(readFileSync(path.join(root, 'scripts', 'architecture-parts.json'), 'utf8')) as Record<string, string[]>;

async function violations(baseDir: string): Promise<{ rule: string; from: string; to: string }[]> {
  const options = await extractDepcruiseOptions(path.join(root, '.dependency-cruiser.cjs'));
  const tsConfig = extractTSConfig(path.join(root, 'tsconfig.json'));
  const { output } = await cruise(['src'], { ...options, validate: true, baseDir }, undefined, { tsConfig });
  const result = output as ICruiseResult;
  return result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: [v.to, ...(v.cycle ?? []).map((c) => c.name)].join(' -> ') }));
}

test('src/ has no import cycle and no arrow outside the parts table', async () => {
  const found = await violations(root);
  assert.deepEqual(found, [], `dependency-cruiser found:\n${found.map((v) => `${v.rule}: ${v.from} -> ${v.to}`).join('\n')}`);
});

test('every folder of src/ is a part, and the parts table is layered (no part may reach itself)', () => {
  const folders = readdirSync(path.join(root, 'src'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual(folders.sort(), Object.keys(parts).sort());
  const reaches = (from: string, seen = new Set<string>()): Set<string> => {
    for (const to of parts[from] ?? []) if (!seen.has(to)) reaches(to, seen.add(to));
    return seen;
  };
  for (const part of Object.keys(parts)) assert.ok(!reaches(part).has(part), `${part} can reach itself through the table`);
});

test('the rules catch a cycle, an upward arrow and a reach past index.ts', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-arch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (file: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  };
  write('src/store/index.ts', "import { a } from '../api/index.ts';\nexport const s = a;\n");
  write('src/api/index.ts', "import { s } from '../store/index.ts';\nexport const a = 1;\nexport const b = s;\n");
  write('src/jobs/index.ts', "import { m } from '../models/inner.ts';\nexport const j = m;\n");
  write('src/models/inner.ts', 'export const m = 1;\n');
  const rules = new Set((await violations(dir)).map((v) => v.rule));
  assert.deepEqual([...rules].sort(), ['no-circular', 'store-imports', 'through-index']);
});
