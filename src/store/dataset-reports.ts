/** Cached dataset validation reports (see migrations/003-dataset-reports.sql). */
import type { Db } from './db.ts';

/** The stored report for `key`, parsed from JSON, or null. */
export async function getDatasetReport(db: Db, key: string): Promise<unknown> {
  const row = await db.one<{ report: string }>('SELECT report FROM dataset_reports WHERE cache_key = $1', [key]);
  return row ? (JSON.parse(row.report) as unknown) : null;
}

/** Stores `report` under `key`; a report already stored for that key is kept (same inputs, same report). */
export async function putDatasetReport(db: Db, key: string, report: unknown): Promise<void> {
  await db.run(
    'INSERT INTO dataset_reports (cache_key, report, created_at) VALUES ($1, $2, $3) ON CONFLICT (cache_key) DO NOTHING',
    [key, JSON.stringify(report), Math.floor(Date.now() / 1000)],
  );
}
