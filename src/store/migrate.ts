/**
 * Schema migrations: numbered SQL files in ./migrations, applied in name order, each once, recorded
 * in `schema_migrations`. `NNN-name.sql` is portable SQL; a dialect that needs different SQL gets
 * `NNN-name.sqlite.sql` or `NNN-name.postgres.sql`, used instead of the portable file.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db, Dialect } from './db.ts';

const migrationsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

type Migration = { id: string; file: string };

/** Lists the migrations for a dialect, in order: one file per id, the dialect's variant first. */
export async function listMigrations(dialect: Dialect, dir = migrationsDir): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((n) => /^\d+-[\w.-]+\.sql$/.test(n));
  const byId = new Map<string, string>();
  for (const name of names.sort()) {
    const m = /^(\d+-[\w-]+?)(?:\.(sqlite|postgres))?\.sql$/.exec(name);
    if (!m) continue;
    const [, id, variant] = m;
    if (variant && variant !== dialect) continue;
    if (variant || !byId.has(id)) byId.set(id, name);
  }
  return [...byId.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, file]) => ({ id, file: path.join(dir, file) }));
}

/**
 * Applies the pending migrations in one transaction. On PostgreSQL an advisory lock (per schema)
 * makes two processes starting at once apply them exactly once; on SQLite BEGIN IMMEDIATE does.
 * Returns the ids applied now.
 */
export async function migrate(db: Db, dir = migrationsDir): Promise<string[]> {
  const migrations = await listMigrations(db.dialect, dir);
  return db.transaction(async (tx) => {
    if (tx.dialect === 'postgres') {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('atelier-migrations:' || coalesce(current_schema(), '')))`);
    }
    await tx.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const done = new Set((await tx.query<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await tx.exec(await readFile(m.file, 'utf8'));
      await tx.run('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [m.id, Math.floor(Date.now() / 1000)]);
      applied.push(m.id);
    }
    return applied;
  });
}
