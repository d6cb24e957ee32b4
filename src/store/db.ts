/**
 * One query layer over two databases: SQLite (better-sqlite3, WAL) for the embedded default and
 * PostgreSQL (`pg`) for scale-out. SQL is written once with `$1..$n` placeholders (PostgreSQL's
 * form); for SQLite they are rewritten to positional `?` with the values reordered, so a
 * placeholder may be repeated or used out of order.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import pg from 'pg';

export type Dialect = 'sqlite' | 'postgres';
export type SqlValue = string | number | bigint | boolean | null | undefined | Buffer;
export type Row = Record<string, unknown>;

/** What repositories receive: the same calls on either database, inside or outside a transaction. */
export interface Db {
  readonly dialect: Dialect;
  /** `FOR UPDATE SKIP LOCKED` on PostgreSQL; empty on SQLite, where a write transaction already excludes every other writer. */
  readonly skipLocked: string;
  query<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T[]>;
  one<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: SqlValue[]): Promise<{ changes: number }>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs fn in one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: a dedicated client); rolls back if it throws. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Rewrites `$n` placeholders to `?` and orders the values to match. Exported for tests. */
function toSqlitePlaceholders(sql: string, params: SqlValue[]): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const out = sql.replace(/\$(\d+)/g, (_m, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= params.length) throw new Error(`SQL uses $${n} but ${params.length} parameter(s) were given`);
    values.push(toSqliteValue(params[index]));
    return '?';
  });
  return { sql: out, values };
}

function toSqliteValue(v: SqlValue): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}

/** Serializes async work on one connection: SQLite has one writer and one connection here. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #held = false;
  get held(): boolean {
    return this.#held;
  }
  idle(): Promise<void> {
    return this.#tail;
  }
  async lock<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => (release = r));
    await previous;
    this.#held = true;
    try {
      return await fn();
    } finally {
      this.#held = false;
      release();
    }
  }
}

/**
 * One connection per database file per process, shared by every `openSqlite` of that file.
 * better-sqlite3 is synchronous: a second connection waiting on SQLite's busy lock would block the
 * event loop while the first one's transaction waits on that same loop to commit (a deadlock,
 * seen in the store suite). Sharing one connection and one mutex turns that into a queue.
 */
type Shared = { raw: Database.Database; mutex: Mutex; refs: number };
const openFiles = new Map<string, Shared>();

class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly skipLocked = '';
  #closed = false;

  constructor(private readonly shared: Shared, private readonly file: string, private readonly inTx = false) {}

  get raw(): Database.Database {
    return this.shared.raw;
  }

  // Statements outside a transaction wait for a running one, so they never join it by accident.
  async #ready(): Promise<void> {
    while (!this.inTx && this.shared.mutex.held) await this.shared.mutex.idle();
  }

  async query<T extends Row = Row>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    await this.#ready();
    const { sql: text, values } = toSqlitePlaceholders(sql, params);
    const stmt = this.raw.prepare(text);
    if (stmt.reader) return stmt.all(...values) as T[];
    stmt.run(...values);
    return [];
  }

  async one<T extends Row = Row>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    return (await this.query<T>(sql, params))[0];
  }

  async run(sql: string, params: SqlValue[] = []): Promise<{ changes: number }> {
    await this.#ready();
    const { sql: text, values } = toSqlitePlaceholders(sql, params);
    const stmt = this.raw.prepare(text);
    if (stmt.reader) return { changes: stmt.all(...values).length };
    return { changes: stmt.run(...values).changes };
  }

  async exec(sql: string): Promise<void> {
    await this.#ready();
    this.raw.exec(sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    if (this.inTx) return fn(this); // nested: join the outer transaction
    return this.shared.mutex.lock(async () => {
      this.raw.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(new SqliteDb(this.shared, this.file, true));
        this.raw.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed || this.inTx) return;
    this.#closed = true;
    await this.shared.mutex.idle();
    if (--this.shared.refs === 0) {
      openFiles.delete(this.file);
      this.raw.close();
    }
  }
}

/** Opens (creating if needed) a SQLite database file in WAL mode; shares the connection within this process. */
export function openSqlite(file: string): Db {
  const key = path.resolve(file);
  let shared = openFiles.get(key);
  if (!shared) {
    const raw = new Database(key);
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
    // Another process (a CLI `keys create`) may hold the write lock briefly.
    raw.pragma('busy_timeout = 5000');
    shared = { raw, mutex: new Mutex(), refs: 0 };
    openFiles.set(key, shared);
  }
  shared.refs++;
  return new SqliteDb(shared, key);
}

type Queryable = pg.Pool | pg.PoolClient;

class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  readonly skipLocked = 'FOR UPDATE SKIP LOCKED';

  constructor(private readonly pool: pg.Pool, private readonly client: Queryable = pool) {}

  async query<T extends Row = Row>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    const result = await this.client.query(sql, params.map((v) => (v === undefined ? null : v)));
    return result.rows as T[];
  }

  async one<T extends Row = Row>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    return (await this.query<T>(sql, params))[0];
  }

  async run(sql: string, params: SqlValue[] = []): Promise<{ changes: number }> {
    const result = await this.client.query(sql, params.map((v) => (v === undefined ? null : v)));
    return { changes: result.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.client.query(sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    if (this.client !== this.pool) return fn(this); // nested: join the outer transaction
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(new PostgresDb(this.pool, client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

// BIGINT (int8) and NUMERIC come back as strings by default; every value we store fits a double.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** Connects to PostgreSQL; `schema` sets the search_path (one schema per test run). */
export function openPostgres(url: string, opts: { schema?: string; max?: number } = {}): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    types,
    ...(opts.schema ? { options: `-c search_path=${quoteIdent(opts.schema)}` } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return new PostgresDb(pool);
}

/** Quotes an identifier we generate ourselves (schema names); never used on request input. */
export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe identifier: ${name}`);
  return `"${name}"`;
}
