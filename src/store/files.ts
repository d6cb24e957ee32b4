/** The `files` table: uploaded files' metadata, always scoped to a workspace. */
import type { Db, SqlValue } from './db.ts';

export type FileStatus = 'uploaded' | 'processed' | 'error';

export type FileRecord = {
  id: string;
  workspaceId: string;
  filename: string;
  purpose: string;
  sampleType: string;
  source: string;
  bytes: number;
  numLines: number | null;
  mimetype: string | null;
  sha256: string;
  blobKey: string;
  visibility: string;
  expiresAt: number | null;
  status: FileStatus;
  /** The dataset validation report (JSON), once validation has run. */
  validation: unknown;
  createdAt: number;
  createdMs: number;
};

type FileRow = {
  id: string;
  workspace_id: string;
  filename: string;
  purpose: string;
  sample_type: string;
  source: string;
  bytes: number;
  num_lines: number | null;
  mimetype: string | null;
  sha256: string;
  blob_key: string;
  visibility: string;
  expires_at: number | null;
  status: FileStatus;
  validation: string | null;
  created_at: number;
  created_ms: number;
};

const columns =
  'id, workspace_id, filename, purpose, sample_type, source, bytes, num_lines, mimetype, sha256, blob_key, visibility, expires_at, status, validation, created_at, created_ms';

function toRecord(r: FileRow): FileRecord {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    filename: r.filename,
    purpose: r.purpose,
    sampleType: r.sample_type,
    source: r.source,
    bytes: r.bytes,
    numLines: r.num_lines,
    mimetype: r.mimetype,
    sha256: r.sha256,
    blobKey: r.blob_key,
    visibility: r.visibility,
    expiresAt: r.expires_at,
    status: r.status,
    validation: r.validation === null ? null : (JSON.parse(r.validation) as unknown),
    createdAt: r.created_at,
    createdMs: r.created_ms,
  };
}

const insertSql = `INSERT INTO files (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`;

function insertParams(f: FileRecord): SqlValue[] {
  return [
    f.id,
    f.workspaceId,
    f.filename,
    f.purpose,
    f.sampleType,
    f.source,
    f.bytes,
    f.numLines,
    f.mimetype,
    f.sha256,
    f.blobKey,
    f.visibility,
    f.expiresAt,
    f.status,
    f.validation === null || f.validation === undefined ? null : JSON.stringify(f.validation),
    f.createdAt,
    f.createdMs,
  ];
}

/** Inserts a file row. */
export async function insertFile(db: Db, f: FileRecord): Promise<void> {
  await db.run(insertSql, insertParams(f));
}

/**
 * Inserts `f` unless the workspace already has a file with the same bytes and name; then returns
 * that one (`created: false`). The unique index on (workspace, sha256, filename, dedup_slot) decides,
 * so concurrent identical uploads on any number of servers leave exactly one row.
 */
export async function insertFileOrExisting(db: Db, f: FileRecord): Promise<{ file: FileRecord; created: boolean }> {
  // A conflicting row deleted between our insert and our read lets the next insert succeed: retry.
  for (let attempt = 0; attempt < 5; attempt++) {
    const inserted = await db.query<{ id: string }>(
      `${insertSql} ON CONFLICT (workspace_id, sha256, filename, dedup_slot) DO NOTHING RETURNING id`,
      insertParams(f),
    );
    if (inserted.length) return { file: f, created: true };
    const row = await db.one<FileRow>(
      `SELECT ${columns} FROM files WHERE workspace_id = $1 AND sha256 = $2 AND filename = $3 AND dedup_slot = 0`,
      [f.workspaceId, f.sha256, f.filename],
    );
    if (row) return { file: toRecord(row), created: false };
  }
  throw new Error(`could not record file ${f.id}: its duplicate kept appearing and disappearing`);
}

/** A file of this workspace, or null (another workspace's file is null too). */
export async function getFile(db: Db, workspaceId: string, id: string): Promise<FileRecord | null> {
  const row = await db.one<FileRow>(`SELECT ${columns} FROM files WHERE workspace_id = $1 AND id = $2`, [workspaceId, id]);
  return row ? toRecord(row) : null;
}

/** The oldest file of this workspace with the same bytes and name (upload deduplication). */
export async function findFileByContent(db: Db, workspaceId: string, sha256: string, filename: string): Promise<FileRecord | null> {
  const row = await db.one<FileRow>(
    `SELECT ${columns} FROM files WHERE workspace_id = $1 AND sha256 = $2 AND filename = $3 ORDER BY created_ms, id LIMIT 1`,
    [workspaceId, sha256, filename],
  );
  return row ? toRecord(row) : null;
}

export type FileFilter = {
  purpose?: string;
  sampleTypes?: string[];
  sources?: string[];
  mimetypes?: string[];
  /** Case-insensitive substring of the file name. */
  search?: string;
};

export type FilePage = { order: 'asc' | 'desc'; limit: number; offset?: number; /** OpenAI cursor: the id of the last file of the previous page. */ after?: string };

function filterSql(workspaceId: string, f: FileFilter): { where: string; params: SqlValue[] } {
  const params: SqlValue[] = [workspaceId];
  const parts = ['workspace_id = $1'];
  const add = (sql: (n: number) => string, v: SqlValue) => {
    params.push(v);
    parts.push(sql(params.length));
  };
  const addIn = (column: string, values: string[] | undefined) => {
    if (!values?.length) return;
    const start = params.length;
    params.push(...values);
    parts.push(`${column} IN (${values.map((_, i) => `$${start + i + 1}`).join(', ')})`);
  };
  if (f.purpose) add((n) => `purpose = $${n}`, f.purpose);
  addIn('sample_type', f.sampleTypes);
  addIn('source', f.sources);
  addIn('mimetype', f.mimetypes);
  if (f.search) add((n) => `LOWER(filename) LIKE $${n} ESCAPE '\\'`, `%${f.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  return { where: parts.join(' AND '), params };
}

/** One page of a workspace's files plus the total matching the filter (ignoring paging). */
export async function listFiles(db: Db, workspaceId: string, filter: FileFilter, page: FilePage): Promise<{ files: FileRecord[]; total: number }> {
  const { where, params } = filterSql(workspaceId, filter);
  const total = (await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM files WHERE ${where}`, params))?.n ?? 0;
  const dir = page.order === 'asc' ? 'ASC' : 'DESC';
  let cursor = '';
  const pageParams = [...params];
  if (page.after) {
    const anchor = await db.one<{ created_ms: number }>('SELECT created_ms FROM files WHERE workspace_id = $1 AND id = $2', [workspaceId, page.after]);
    if (anchor) {
      const cmp = page.order === 'asc' ? '>' : '<';
      pageParams.push(anchor.created_ms, page.after);
      const a = pageParams.length - 1;
      cursor = ` AND (created_ms ${cmp} $${a} OR (created_ms = $${a} AND id ${cmp} $${a + 1}))`;
    }
  }
  pageParams.push(page.limit, page.offset ?? 0);
  const n = pageParams.length;
  const rows = await db.query<FileRow>(
    `SELECT ${columns} FROM files WHERE ${where}${cursor} ORDER BY created_ms ${dir}, id ${dir} LIMIT $${n - 1} OFFSET $${n}`,
    pageParams,
  );
  return { files: rows.map(toRecord), total: Number(total) };
}

/** Deletes a workspace's file row; resolves to the deleted record, or null if there was none. */
export async function deleteFileRow(db: Db, workspaceId: string, id: string): Promise<FileRecord | null> {
  return db.transaction(async (tx) => {
    const file = await getFile(tx, workspaceId, id);
    if (file) await tx.run('DELETE FROM files WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
    return file;
  });
}

/** Records the outcome of validating a file (status and report). */
export async function setFileValidation(db: Db, id: string, status: FileStatus, validation: unknown): Promise<void> {
  await db.run('UPDATE files SET status = $1, validation = $2 WHERE id = $3', [status, JSON.stringify(validation), id]);
}
