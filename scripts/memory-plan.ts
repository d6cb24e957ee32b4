/**
 * The memory estimator from the command line (src/jobs/memory-plan.ts):
 *
 * - `--table`: prints the docs/trainer.md table of what 7B, 12B and 24B LoRA jobs need on 1, 2, 4 and
 *   8 GPUs; `--write` puts it into docs/trainer.md (`npm run docs:memory`; test/memory-doc.test.ts
 *   checks the doc holds exactly this);
 * - `--estimate`: reads a JSON list of {model, job, device, checkpointLayers} on stdin and prints
 *   each one's breakdown (trainer/tests/test_memory_plan.py compares them with measured peaks).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { estimatePeak, lossChunk, cpuRuntimeBytes } from '../src/jobs/memory-plan.ts';
import { renderMemoryTable, tableEnd, tableStart } from './memory-table.ts';

const trainerDoc = path.join(import.meta.dirname, '..', 'docs', 'trainer.md');

/** Rewrites the table between its markers in docs/trainer.md. */
function writeTable(): void {
  const doc = readFileSync(trainerDoc, 'utf8');
  const from = doc.indexOf(tableStart);
  const to = doc.indexOf(tableEnd);
  if (from < 0 || to < from) throw new Error(`docs/trainer.md has no ${tableStart} … ${tableEnd} block`);
  writeFileSync(trainerDoc, doc.slice(0, from) + renderMemoryTable() + doc.slice(to + tableEnd.length + 1));
  process.stdout.write('wrote the memory table into docs/trainer.md\n');
}

const caseSchema = z.object({
  model: z.object({
    dim: z.number().int().positive(), nLayers: z.number().int().positive(), hiddenDim: z.number().int().positive(),
    nHeads: z.number().int().positive(), nKvHeads: z.number().int().positive(), headDim: z.number().int().positive(),
    vocabSize: z.number().int().positive(), tiedEmbeddings: z.boolean().default(false),
  }),
  job: z.object({ seqLen: z.number().int().positive(), batchSize: z.number().int().positive(), loraRank: z.number().int().positive() }),
  device: z.object({ kind: z.enum(['cuda', 'cpu']), count: z.number().int().positive(), strategy: z.enum(['ddp', 'fsdp2']) })
    .default({ kind: 'cpu', count: 1, strategy: 'ddp' }),
  checkpointLayers: z.number().int().nonnegative(),
});

function estimateCases(input: string): string {
  const cases = z.array(caseSchema).parse(JSON.parse(input));
  const estimates = cases.map((c) => estimatePeak(c.model, c.job, c.device, c.checkpointLayers));
  return JSON.stringify({ lossChunk, cpuRuntimeBytes, estimates });
}

const mode = process.argv[2];
if (mode === '--table') process.stdout.write(renderMemoryTable());
else if (mode === '--write') writeTable();
else if (mode === '--estimate') process.stdout.write(`${estimateCases(readFileSync(0, 'utf8'))}\n`);
else {
  process.stderr.write('usage: memory-plan.ts --table | --write | --estimate < cases.json\n');
  process.exitCode = 2;
}
