/**
 * src/store: the metadata database (SQLite WAL or PostgreSQL) and blob storage. Only this folder
 * holds SQL.
 *
 * Conventions for adding storage for a part (e.g. jobs):
 * - Schema: add `migrations/NNN-<name>.sql` (next free number; portable SQL: TEXT ids, BIGINT Unix
 *   seconds and sizes, INTEGER 0/1 booleans, JSON as TEXT). If a dialect needs different SQL, add
 *   `NNN-<name>.sqlite.sql` / `NNN-<name>.postgres.sql`; the dialect's file replaces the portable
 *   one. Applied migrations are recorded by name in `schema_migrations`; never edit an applied one.
 * - Queries: a repository file `src/store/<name>.ts` of plain async functions taking a `Db` first,
 *   e.g. `getJob(db, workspaceId, id)`. SQL uses `$1..$n` placeholders on both databases (they are
 *   rewritten for SQLite). Map rows (snake_case) to typed records (camelCase) in that file.
 * - Transactions: `db.transaction(async (tx) => ...)` and use only `tx` inside (on SQLite the outer
 *   `db` waits for the transaction to end, so using it inside would wait forever). A claim is one
 *   transaction with `SELECT ... ${db.skipLocked}` (FOR UPDATE SKIP LOCKED on PostgreSQL, nothing
 *   on SQLite where BEGIN IMMEDIATE already excludes other writers) then `UPDATE ... RETURNING`.
 *   Raw per-dialect SQL is allowed here when needed: branch on `db.dialect`.
 * - Export the new functions from this file; other parts import only `src/store/index.ts`.
 * - Tests: add cases to `test/helpers/store-suite.ts` so they run on SQLite and PostgreSQL alike.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { LocalBlobStore, type BlobStore } from './blobs.ts';
import { openPostgres, openSqlite, type Db } from './db.ts';
import { migrate } from './migrate.ts';

export type { Db, Dialect, Row, SqlValue } from './db.ts';
export { openPostgres, openSqlite, quoteIdent } from './db.ts';
export { migrate, listMigrations } from './migrate.ts';
export { LocalBlobStore, BlobNotFoundError, type BlobStore } from './blobs.ts';
export * from './files.ts';
export * from './file-uploads.ts';
export * from './workspaces.ts';
export * from './jobs.ts';
export * from './models.ts';
export * from './dataset-reports.ts';
export * from './job-statuses.ts';
export { DeletedFileError, localFile } from './file-paths.ts';
export * from './job-metrics.ts';
export { loadOrCreateSecret } from './secrets.ts';
export { removeOrphans, startOrphanSweeps, type OrphanSweep } from './orphans.ts';

/** An open store: the database (migrated) and the blob storage. */
export type Store = { db: Db; blobs: BlobStore; dataDir: string; close(): Promise<void> };

export type StoreOptions = {
  dataDir: string;
  /** postgres://…; empty means SQLite at `<dataDir>/atelier.db`. */
  databaseUrl?: string;
  /** PostgreSQL schema (search_path) to use; tests give each run its own. */
  pgSchema?: string;
  /** Folder of uploaded files' bytes; empty or absent means `<dataDir>/files` (setting blobDir). */
  blobDir?: string;
};

/** Opens the database, applies pending migrations and sets up blob storage under `<dataDir>/files`. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  await mkdir(opts.dataDir, { recursive: true });
  const db = opts.databaseUrl ? openPostgres(opts.databaseUrl, { schema: opts.pgSchema }) : openSqlite(path.join(opts.dataDir, 'atelier.db'));
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const blobs = new LocalBlobStore(opts.blobDir ? path.resolve(opts.blobDir) : path.join(opts.dataDir, 'files'));
  return { db, blobs, dataDir: opts.dataDir, close: () => db.close() };
}
