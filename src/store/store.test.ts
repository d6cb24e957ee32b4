// Runs the one store suite on SQLite (always) and PostgreSQL (skipped, with the reason, when no
// server answers).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestSchema, pgSkipReason, testDatabaseUrl } from '../../test/helpers/postgres.ts';
import { openStore } from './index.ts';
import { runStoreSuite } from './store-suite.ts';

runStoreSuite('SQLite', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-store-'));
  return { open: () => openStore({ dataDir }), cleanup: () => rm(dataDir, { recursive: true, force: true }) };
});

const skip = await pgSkipReason();
runStoreSuite(
  'PostgreSQL',
  async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-store-'));
    const schema = await createTestSchema();
    return {
      open: () => openStore({ dataDir, databaseUrl: testDatabaseUrl, pgSchema: schema.schema }),
      cleanup: async () => {
        await schema.drop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
  skip ?? false,
);
