// Runs the one store suite on SQLite (always) and PostgreSQL (skipped, with the reason, when no
// server answers).
import { pgSkipReason } from '../../test/helpers/postgres.ts';
import { postgresLocations, runStoreSuite, sqliteLocations } from '../../test/helpers/store-suite.ts';

runStoreSuite('SQLite', sqliteLocations('atelier-store-'));

const skip = await pgSkipReason();
runStoreSuite('PostgreSQL', postgresLocations('atelier-store-'), skip ?? false);
