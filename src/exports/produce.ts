/**
 * Exports on disk: `<data-dir>/exports/<workspace>/<model>/<format>-<dtype>-<quant>/` holds the
 * files of one export and `files.json` (written last, so a folder without it is unfinished).
 * Built once by the Python exporter in a temporary sibling and renamed into place; later downloads
 * of the same export reuse it; at most settings.exportMaxCached per model are kept.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Settings } from '../settings/index.ts';
import type { ExportOptions } from './options.ts';
import { runExporter } from './run-python.ts';

/** What is exported: a base model (adapterDir null) or a workspace's fine-tuned model. */
export type ExportTarget = {
  workspaceId: string | null;
  modelId: string;
  baseModel: string;
  baseDir: string;
  adapterDir: string | null;
  /** Model card facts (job, data, hyperparameters, metrics) for the adapter README. */
  card: Record<string, unknown>;
};

export type ReadyExport = { dir: string; files: string[]; built: boolean };

const safe = (s: string) => s.replace(/[^\w.-]+/g, '_');
const pending = new Map<string, Promise<ReadyExport>>();

function modelExportsDir(settings: Pick<Settings, 'dataDir'>, workspaceId: string | null, modelId: string): string {
  return path.join(settings.dataDir, 'exports', workspaceId ? safe(workspaceId) : '_base', safe(modelId));
}

/** The folder of the export `o` of `t`, building it when it is not on disk yet. */
export async function produceExport(settings: Settings, t: ExportTarget, o: ExportOptions): Promise<ReadyExport> {
  const key = `${o.format}-${o.dtype ?? 'auto'}${o.format === 'gguf' ? `-${o.quant}` : ''}`;
  const dir = path.join(modelExportsDir(settings, t.workspaceId, t.modelId), key);
  const done = await readFiles(dir);
  if (done) return { dir, files: done, built: false };
  const running = pending.get(dir) ?? build(settings, t, o, dir);
  pending.set(dir, running);
  try {
    return await running;
  } finally {
    pending.delete(dir);
  }
}

async function readFiles(dir: string): Promise<string[] | null> {
  const marker = path.join(dir, 'files.json');
  if (!existsSync(marker)) return null;
  return z.array(z.string()).parse(JSON.parse(await readFile(marker, 'utf8')));
}

function exporterArgs(settings: Settings, t: ExportTarget, o: ExportOptions, out: string): string[] {
  const args = ['--format', o.format, '--model-dir', t.baseDir, '--out', out, '--quant', o.quant,
    '--name', safe(t.modelId), '--base-id', t.baseModel, '--shard-bytes', String(settings.exportShardBytes)];
  if (o.dtype) args.push('--dtype', o.dtype);
  if (t.adapterDir) args.push('--adapter', t.adapterDir, '--card', path.join(out, 'card.json'));
  return args;
}

async function build(settings: Settings, t: ExportTarget, o: ExportOptions, dir: string): Promise<ReadyExport> {
  const tmp = `${dir}.tmp-${randomUUID().slice(0, 8)}`;
  await mkdir(tmp, { recursive: true });
  try {
    await writeFile(path.join(tmp, 'card.json'), JSON.stringify({ ...t.card, model_id: t.modelId, base_model: t.baseModel }));
    const files = await runExporter(settings.python, exporterArgs(settings, t, o, tmp));
    await rm(path.join(tmp, 'card.json'));
    await writeFile(path.join(tmp, 'files.json'), JSON.stringify(files));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    await evictOld(path.dirname(dir), settings.exportMaxCached, dir);
    return { dir, files, built: true };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Deletes the oldest finished exports of a model beyond `keep` (never `current`). */
async function evictOld(modelDir: string, keep: number, current: string): Promise<void> {
  const names = (await readdir(modelDir)).filter((n) => !n.includes('.tmp-'));
  const dated = await Promise.all(names.map(async (n) => ({ dir: path.join(modelDir, n), mtime: (await stat(path.join(modelDir, n))).mtimeMs })));
  const old = dated.filter((d) => d.dir !== current).sort((a, b) => b.mtime - a.mtime).slice(Math.max(0, keep - 1));
  await Promise.all(old.map((d) => rm(d.dir, { recursive: true, force: true })));
}

/** Removes every export of a model (when the model is deleted). */
export async function removeModelExports(settings: Pick<Settings, 'dataDir'>, workspaceId: string, modelId: string): Promise<void> {
  await rm(modelExportsDir(settings, workspaceId, modelId), { recursive: true, force: true });
}
