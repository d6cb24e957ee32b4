/**
 * Crash leftovers in local blob storage: a server killed mid-upload leaves its `.tmp-*` file, and
 * one killed between writing a blob and inserting its row leaves a blob no file owns. Both are
 * removed here. Only what is older than a grace period goes, because on PostgreSQL several servers
 * share the data dir and a young temp file or row-less blob may be another server's upload in flight.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { LocalBlobStore, type BlobStore } from './blobs.ts';
import type { Db } from './db.ts';

export type OrphanSweep = { tempFiles: number; blobs: number };

type Entry = { key: string; file: string; temp: boolean };

async function listEntries(root: string): Promise<Entry[]> {
  const dirs = await readdir(root, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const entries: Entry[] = [];
  for (const d of dirs.filter((x) => x.isDirectory())) {
    for (const name of await readdir(path.join(root, d.name))) {
      entries.push({ key: `${d.name}/${name}`, file: path.join(root, d.name, name), temp: name.startsWith('.tmp-') });
    }
  }
  return entries;
}

/** Modification time in ms, or null when the file went away meanwhile (its upload finished or failed). */
async function mtimeMs(file: string): Promise<number | null> {
  try {
    return (await stat(file)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Removes temp files and row-less blobs last written more than `graceMs` ago. The owned keys are
 * read before the folder is listed, so a blob committed meanwhile is young and kept.
 * Stores that are not on this machine's disk are left alone (they keep their own lifecycle).
 */
export async function removeOrphans(db: Db, blobs: BlobStore, graceMs: number, now = Date.now()): Promise<OrphanSweep> {
  const swept: OrphanSweep = { tempFiles: 0, blobs: 0 };
  if (!(blobs instanceof LocalBlobStore)) return swept;
  const owned = new Set((await db.query<{ blob_key: string }>('SELECT blob_key FROM files')).map((r) => r.blob_key));
  for (const e of await listEntries(blobs.root)) {
    if (!e.temp && owned.has(e.key)) continue;
    const mtime = await mtimeMs(e.file);
    if (mtime === null || now - mtime < graceMs) continue;
    await rm(e.file, { force: true });
    if (e.temp) swept.tempFiles++;
    else swept.blobs++;
  }
  return swept;
}

export type SweepOptions = { graceMs: number; /** Grace of the first sweep (0 where this process alone writes the data dir). */ firstGraceMs: number; log(message: string, swept: OrphanSweep): void };

/** Sweeps once now (awaited), then every graceMs in the background; returns the function that stops it. */
export async function startOrphanSweeps(db: Db, blobs: BlobStore, opts: SweepOptions): Promise<() => void> {
  const sweep = async (grace: number) => {
    const swept = await removeOrphans(db, blobs, grace);
    if (swept.tempFiles || swept.blobs) opts.log(`removed ${swept.tempFiles} upload temp file(s) and ${swept.blobs} blob(s) that no file owns`, swept);
  };
  await sweep(opts.firstGraceMs);
  if (opts.graceMs <= 0) return () => undefined;
  const timer = setInterval(() => {
    sweep(opts.graceMs).catch((err: unknown) => opts.log(`orphan sweep failed: ${String(err)}`, { tempFiles: 0, blobs: 0 }));
  }, Math.max(1000, opts.graceMs));
  timer.unref();
  return () => clearInterval(timer);
}
