/**
 * PostgreSQL for tests: each call gets its own schema (search_path) so parallel runs never collide.
 * Where no server answers, `pgSkipReason` says why, and tests skip with that visible reason.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The test database: ATELIER_TEST_DATABASE_URL, else the local trust-auth server. */
export const testDatabaseUrl = process.env.ATELIER_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** Resolves to null when PostgreSQL is reachable, else the reason to print when skipping. */
export async function pgSkipReason(): Promise<string | null> {
  const client = new pg.Client({ connectionString: testDatabaseUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return `PostgreSQL not reachable at ${testDatabaseUrl.replace(/\/\/[^@]*@/, '//')} (${err instanceof Error ? err.message : String(err)}); set ATELIER_TEST_DATABASE_URL to run these tests`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates a fresh schema; `drop()` removes it with everything in it. */
export async function createTestSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `atelier_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: testDatabaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA "${schema}"`);
  } finally {
    await client.end();
  }
  return {
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: testDatabaseUrl });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
