// docs/trainer.md's memory table is the estimator's output (scripts/memory-table.ts), so the doc
// cannot drift from src/jobs/memory-plan.ts: regenerate with `npm run docs:memory`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { renderMemoryTable } from '../scripts/memory-table.ts';

it('docs/trainer.md holds the generated memory table', () => {
  const doc = readFileSync(path.join(import.meta.dirname, '..', 'docs', 'trainer.md'), 'utf8');
  assert.ok(doc.includes(renderMemoryTable()), 'docs/trainer.md: the memory table is stale; run npm run docs:memory');
});
