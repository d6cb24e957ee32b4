/**
 * The store's test suite, written once and run against every database (store.test.ts runs it on
 * SQLite and on PostgreSQL). A location is one empty database + data dir; `open()` connects to it
 * (migrating it) and can be called several times to get independent connections.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { createTestSchema, testDatabaseUrl } from './postgres.ts';
import {
  commitUpload,
  createApiKey,
  deleteFile,
  ensureWorkspace,
  FileTooLargeError,
  getFile,
  hashApiKey,
  listApiKeys,
  listFiles,
  listMigrations,
  migrate,
  openStore,
  removeOrphans,
  setFileValidation,
  stageUpload,
  workspaceIdForKeyHash,
  type NewFile,
  type Store,
} from '../../src/store/index.ts';

export type StoreLocation = { open(): Promise<Store>; cleanup(): Promise<void> };
export type MakeLocation = () => Promise<StoreLocation>;

/** Locations on SQLite: each a fresh temp data dir named `<prefix>XXXXXX` (the database file lives in it). */
export function sqliteLocations(prefix: string): MakeLocation {
  return async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), prefix));
    return { open: () => openStore({ dataDir }), cleanup: () => rm(dataDir, { recursive: true, force: true }) };
  };
}

/** Locations on PostgreSQL: each a fresh schema in the test database plus a temp data dir; cleanup drops both. */
export function postgresLocations(prefix: string): MakeLocation {
  return async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), prefix));
    const schema = await createTestSchema();
    return {
      open: () => openStore({ dataDir, databaseUrl: testDatabaseUrl, pgSchema: schema.schema }),
      cleanup: async () => {
        await schema.drop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  };
}

async function withStore(t: TestContext, make: MakeLocation): Promise<{ store: Store; location: StoreLocation }> {
  const location = await make();
  const store = await location.open();
  t.after(async () => {
    await store.close();
    await location.cleanup();
  });
  return { store, location };
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const newFile = (workspaceId: string, over: Partial<NewFile> = {}): NewFile => ({
  workspaceId,
  filename: 'train.jsonl',
  purpose: 'fine-tune',
  sampleType: 'instruct',
  source: 'upload',
  mimetype: 'application/jsonl',
  visibility: 'workspace',
  expiresAt: null,
  status: 'processed',
  ...over,
});

async function upload(store: Store, workspaceId: string, content: string, over: Partial<NewFile> = {}) {
  const staged = await stageUpload(store.blobs, Readable.from([Buffer.from(content)]), 1024 * 1024);
  return commitUpload(store.db, store.blobs, staged, newFile(workspaceId, over));
}

/** Registers the whole store suite under `name`. `skip` (a reason) skips it visibly. */
export function runStoreSuite(name: string, make: MakeLocation, skip?: string | false): void {
  describe(`store on ${name}`, { skip: skip || false }, () => {
    it('rewrites $n placeholders, repeated and out of order', async (t) => {
      const { store } = await withStore(t, make);
      const row = await store.db.one<{ a: string; b: string; c: string }>('SELECT $2 AS a, $1 AS b, $2 AS c', ['x', 'y']);
      assert.deepEqual({ ...row }, { a: 'y', b: 'x', c: 'y' });
    });

    it('records each migration once, even when two processes start at once', async (t) => {
      const location = await make();
      const [a, b] = await Promise.all([location.open(), location.open()]);
      t.after(async () => {
        await a.close();
        await b.close();
        await location.cleanup();
      });
      const rows = await a.db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
      const expected = (await listMigrations(a.db.dialect)).map((m) => m.id);
      assert.deepEqual(rows.map((r) => r.id), expected);
      assert.ok(expected.includes('001-foundation'));
    });

    it('rolls a transaction back when its function throws', async (t) => {
      const { store } = await withStore(t, make);
      await assert.rejects(
        store.db.transaction(async (tx) => {
          await tx.run('INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)', ['abcd0001', 'rolled', 1]);
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await store.db.one('SELECT id FROM workspaces WHERE name = $1', ['rolled']), undefined);
    });

    it('claims each row exactly once with skipLocked across concurrent transactions', async (t) => {
      const { store, location } = await withStore(t, make);
      const other = await location.open();
      t.after(() => other.close());
      await store.db.exec('CREATE TABLE claim_test (id TEXT PRIMARY KEY, owner TEXT)');
      for (let i = 0; i < 6; i++) await store.db.run('INSERT INTO claim_test (id, owner) VALUES ($1, NULL)', [`r${i}`]);
      const claim = (db: Store['db'], owner: string) =>
        db.transaction(async (tx) => {
          const row = await tx.one<{ id: string }>(`SELECT id FROM claim_test WHERE owner IS NULL ORDER BY id LIMIT 1 ${tx.skipLocked}`);
          if (!row) return null;
          await tx.run('UPDATE claim_test SET owner = $1 WHERE id = $2', [owner, row.id]);
          return row.id;
        });
      const claimed = await Promise.all(Array.from({ length: 8 }, (_, i) => claim(i % 2 ? other.db : store.db, `w${i}`)));
      const ids = claimed.filter((c): c is string => c !== null);
      assert.equal(ids.length, 6);
      assert.equal(new Set(ids).size, 6);
    });

    it('creates workspaces with 8-hex ids and finds keys only by their hash', async (t) => {
      const { store } = await withStore(t, make);
      const ws = await ensureWorkspace(store.db, 'team-a');
      assert.match(ws.id, /^[0-9a-f]{8}$/);
      assert.deepEqual(await ensureWorkspace(store.db, 'team-a'), ws);
      const { key, prefix } = await createApiKey(store.db, ws.id);
      assert.equal(await workspaceIdForKeyHash(store.db, hashApiKey(key)), ws.id);
      assert.equal(await workspaceIdForKeyHash(store.db, hashApiKey(`${key}x`)), null);
      const stored = await store.db.query<{ key_hash: string }>('SELECT key_hash FROM api_keys');
      assert.ok(stored.every((r) => r.key_hash !== key));
      const listed = await listApiKeys(store.db);
      assert.deepEqual(listed.map((k) => [k.workspaceName, k.prefix]), [['team-a', prefix]]);
    });

    it('stores uploads with sha256 and line count, and deduplicates same bytes and name', async (t) => {
      const { store } = await withStore(t, make);
      const ws = await ensureWorkspace(store.db, 'w');
      const first = await upload(store, ws.id, '{"a":1}\n{"a":2}\n{"a":3}');
      assert.equal(first.created, true);
      assert.equal(first.file.numLines, 3);
      assert.equal(first.file.bytes, 23);
      assert.match(first.file.sha256, /^[0-9a-f]{64}$/);
      const again = await upload(store, ws.id, '{"a":1}\n{"a":2}\n{"a":3}');
      assert.equal(again.created, false);
      assert.equal(again.file.id, first.file.id);
      const renamed = await upload(store, ws.id, '{"a":1}\n{"a":2}\n{"a":3}', { filename: 'other.jsonl' });
      assert.equal(renamed.created, true);
      const blob = await readAll(await store.blobs.stream(first.file.blobKey));
      assert.equal(blob.toString(), '{"a":1}\n{"a":2}\n{"a":3}');
    });

    it('keeps one row and one blob when identical uploads race on separate connections', async (t) => {
      const { store, location } = await withStore(t, make);
      const others = [await location.open(), await location.open()];
      t.after(async () => {
        for (const o of others) await o.close();
      });
      const ws = await ensureWorkspace(store.db, 'race');
      const { readdir } = await import('node:fs/promises');
      for (let round = 0; round < 5; round++) {
        const content = `{"round":${round}}\n`;
        const stores = [store, ...others];
        // Stage first so the three commits (read + write on main) overlap as closely as they can.
        const staged = await Promise.all(stores.map((s) => stageUpload(s.blobs, Readable.from([Buffer.from(content)]), 1024)));
        const results = await Promise.all(stores.map((s, i) => commitUpload(s.db, s.blobs, staged[i], newFile(ws.id))));
        assert.equal(results.filter((r) => r.created).length, 1, `round ${round}: exactly one upload creates the file`);
        assert.equal(new Set(results.map((r) => r.file.id)).size, 1, `round ${round}: all three get the same file`);
        const rows = await store.db.query<{ id: string; blob_key: string }>('SELECT id, blob_key FROM files WHERE sha256 = $1', [results[0].file.sha256]);
        assert.equal(rows.length, 1, `round ${round}: one row, not ${rows.length}`);
        const losers = staged.filter((s) => s.id !== rows[0].id);
        for (const l of losers) assert.equal(await store.blobs.stat(l.blobKey), null, "a loser's bytes are removed");
        assert.ok(await store.blobs.stat(rows[0].blob_key), "the winner's bytes stay");
      }
      const root = path.dirname(path.dirname(store.blobs.localPath('ab/x') ?? ''));
      const blobs = (await Promise.all((await readdir(root)).map(async (d) => readdir(path.join(root, d))))).flat();
      assert.equal(blobs.length, 5, 'one blob per distinct upload, no temp files');
    });

    it('migrates duplicates that racing uploads left before the unique index into later slots', async (t) => {
      const { store } = await withStore(t, make);
      const db = store.db;
      // Back to the schema before 004-files-unique-content, where concurrent uploads could duplicate rows.
      await db.exec('DROP INDEX files_unique_content; ALTER TABLE files DROP COLUMN dedup_slot; CREATE INDEX files_dedup ON files (workspace_id, sha256, filename)');
      await db.run('DELETE FROM schema_migrations WHERE id = $1', ['004-files-unique-content']);
      const ws = await ensureWorkspace(db, 'legacy');
      const row = (id: string, ms: number, name = 'train.jsonl') =>
        db.run(
          `INSERT INTO files (id, workspace_id, filename, purpose, sample_type, source, bytes, sha256, blob_key, visibility, status, created_at, created_ms)
           VALUES ($1, $2, $3, 'fine-tune', 'instruct', 'upload', 1, 'abc', $1, 'workspace', 'processed', 1, $4)`,
          [id, ws.id, name, ms],
        );
      await row('f3', 3);
      await row('f1', 1);
      await row('f2', 1);
      await row('g1', 2, 'other.jsonl');
      assert.deepEqual(await migrate(db), ['004-files-unique-content']);
      const slots = await db.query<{ id: string; dedup_slot: number }>('SELECT id, dedup_slot FROM files ORDER BY id');
      assert.deepEqual(slots.map((r) => [r.id, Number(r.dedup_slot)]), [['f1', 0], ['f2', 1], ['f3', 2], ['g1', 0]]);
      const again = await upload(store, ws.id, 'x'); // a different sha: a new row in slot 0
      assert.equal(again.created, true);
    });

    it('removes old upload temp files and row-less blobs, keeps owned and young ones', async (t) => {
      const { store } = await withStore(t, make);
      const ws = await ensureWorkspace(store.db, 'orphans');
      const { file } = await upload(store, ws.id, '{"kept":1}\n');
      const orphan = await stageUpload(store.blobs, Readable.from([Buffer.from('no row')]), 1024);
      const { utimes, writeFile, readdir } = await import('node:fs/promises');
      const dir = path.dirname(store.blobs.localPath(file.blobKey) ?? '');
      const oldTemp = path.join(dir, '.tmp-0123456789abcdef');
      const youngTemp = path.join(dir, '.tmp-fedcba9876543210');
      await writeFile(oldTemp, 'partial upload of a killed server');
      await writeFile(youngTemp, 'upload in flight on another server');
      const old = new Date(Date.now() - 120_000);
      for (const f of [oldTemp, store.blobs.localPath(orphan.blobKey) ?? '', store.blobs.localPath(file.blobKey) ?? '']) await utimes(f, old, old);
      assert.deepEqual(await removeOrphans(store.db, store.blobs, 60_000), { tempFiles: 1, blobs: 1 });
      assert.equal(await store.blobs.stat(orphan.blobKey), null);
      assert.ok(await store.blobs.stat(file.blobKey), 'a blob its row owns stays, however old');
      const left = (await Promise.all([dir, path.dirname(store.blobs.localPath(orphan.blobKey) ?? '')].map((d) => readdir(d)))).flat();
      assert.ok(left.includes('.tmp-fedcba9876543210') && !left.includes('.tmp-0123456789abcdef'), left.join(','));
      assert.deepEqual(await removeOrphans(store.db, store.blobs, 0), { tempFiles: 1, blobs: 0 }, 'without grace the young one goes too');
    });

    it('rejects an upload over the limit and keeps no bytes', async (t) => {
      const { store } = await withStore(t, make);
      await assert.rejects(stageUpload(store.blobs, Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), 1000), FileTooLargeError);
      const staged = await stageUpload(store.blobs, Readable.from([Buffer.alloc(1000)]), 1000);
      assert.equal(staged.bytes, 1000);
      const { readdir } = await import('node:fs/promises');
      const path = await import('node:path');
      const dir = path.dirname(store.blobs.localPath(staged.blobKey) ?? '');
      assert.deepEqual(await readdir(dir), [staged.id]);
    });

    it('lists with filters, paging, cursors and totals, scoped to the workspace', async (t) => {
      const { store } = await withStore(t, make);
      const a = await ensureWorkspace(store.db, 'a');
      const b = await ensureWorkspace(store.db, 'b');
      const f1 = (await upload(store, a.id, '1', { filename: 'Alpha_1.jsonl' })).file;
      const f2 = (await upload(store, a.id, '2', { filename: 'beta.jsonl', purpose: 'batch', sampleType: 'batch_request' })).file;
      const f3 = (await upload(store, a.id, '3', { filename: 'alpha%3.jsonl', mimetype: 'text/plain' })).file;
      await upload(store, b.id, '4', { filename: 'alpha.jsonl' });
      const ids = async (filter: Parameters<typeof listFiles>[2], page = { order: 'desc' as const, limit: 100 }) =>
        (await listFiles(store.db, a.id, filter, page)).files.map((f) => f.id);
      assert.deepEqual(await ids({}), [f3.id, f2.id, f1.id]);
      assert.deepEqual(await ids({ search: 'ALPHA' }), [f3.id, f1.id]);
      assert.deepEqual(await ids({ search: '%' }), [f3.id]);
      assert.deepEqual(await ids({ search: '_' }), [f1.id]);
      assert.deepEqual(await ids({ purpose: 'batch' }), [f2.id]);
      assert.deepEqual(await ids({ sampleTypes: ['instruct', 'pretrain'] }), [f3.id, f1.id]);
      assert.deepEqual(await ids({ mimetypes: ['text/plain'] }), [f3.id]);
      assert.deepEqual(await ids({ sources: ['repository'] }), []);
      const page = await listFiles(store.db, a.id, {}, { order: 'asc', limit: 1, offset: 1 });
      assert.deepEqual([page.files.map((f) => f.id), page.total], [[f2.id], 3]);
      assert.deepEqual(await ids({}, { order: 'desc', limit: 2, after: f3.id } as never), [f2.id, f1.id]);
      assert.deepEqual(await ids({}, { order: 'asc', limit: 5, after: f1.id } as never), [f2.id, f3.id]);
    });

    it('hides other workspaces’ files and deletes row and bytes', async (t) => {
      const { store } = await withStore(t, make);
      const a = await ensureWorkspace(store.db, 'a');
      const b = await ensureWorkspace(store.db, 'b');
      const { file } = await upload(store, a.id, 'x\n');
      assert.equal(await getFile(store.db, b.id, file.id), null);
      assert.equal(await deleteFile(store.db, store.blobs, b.id, file.id), false);
      await setFileValidation(store.db, file.id, 'error', { errors: [{ line: 1, code: 'bad' }] });
      const got = await getFile(store.db, a.id, file.id);
      assert.deepEqual([got?.status, got?.validation], ['error', { errors: [{ line: 1, code: 'bad' }] }]);
      assert.equal(await deleteFile(store.db, store.blobs, a.id, file.id), true);
      assert.equal(await getFile(store.db, a.id, file.id), null);
      assert.equal(await store.blobs.stat(file.blobKey), null);
    });
  });
}
