/**
 * The import graph of src/: no cycles, and between parts only the arrows listed in
 * scripts/architecture-parts.json (rules in .dependency-cruiser.cjs), each part entered through its
 * index.ts. A new cycle or a forbidden arrow fails here with the offending files, and so does a
 * stale picture in docs/architecture.md (scripts/architecture-graph.ts redraws it).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ICruiseResult } from 'dependency-cruiser';
import { allowedImports, cruiseSrc, docPath, partArrows, renderBlock, repoRoot as root, withBlock } from '../scripts/architecture-graph.ts';

const parts = allowedImports();

function violations(result: ICruiseResult): { rule: string; from: string; to: string }[] {
  return result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: [v.to, ...(v.cycle ?? []).map((c) => c.name)].join(' -> ') }));
}

let cruised: Promise<ICruiseResult> | null = null;
const srcGraph = () => (cruised ??= cruiseSrc());

test('src/ has no import cycle and no arrow outside the parts table', async () => {
  const found = violations(await srcGraph());
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
  const rules = new Set(violations(await cruiseSrc(dir)).map((v) => v.rule));
  assert.deepEqual([...rules].sort(), ['no-circular', 'store-imports', 'through-index']);
});

test('the picture in docs/architecture.md is the one the code draws', async () => {
  const doc = readFileSync(docPath, 'utf8');
  const block = renderBlock(partArrows(await srcGraph()), parts);
  assert.equal(withBlock(doc, block), doc, 'stale picture: run node --import tsx scripts/architecture-graph.ts');
  assert.match(block, /api --> jobs/);
});
