import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Database } from '../../src/platform/db/database.js';
import { ensureInstallation } from '../../src/platform/db/ensure-installation.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { createTestDatabase, testDatabaseUrl } from './postgres.js';

export type DatabaseBackend = 'pglite' | 'postgres';

/** PGlite always; PostgreSQL too when FLOCK_TEST_DATABASE_URL is set. */
export const databaseBackends: readonly DatabaseBackend[] =
  testDatabaseUrl() === undefined ? ['pglite'] : ['pglite', 'postgres'];

export interface TestDatabase {
  database: Database;
  /** The PostgreSQL URL, for a server process; undefined on PGlite. */
  url: string | undefined;
  close(): Promise<void>;
}

/** A migrated database of its own: PGlite in a scratch directory, or a fresh PostgreSQL database. */
export async function openTestDatabase(backend: DatabaseBackend): Promise<TestDatabase> {
  const log = pino({ level: 'silent' });
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-test-db-'));
  const pg = backend === 'postgres' ? await createTestDatabase() : undefined;
  const database = await openDatabase({ url: pg?.url, dataDir, log });
  await migrateToLatest(database.db, log);
  await ensureInstallation(database.db);
  return {
    database,
    url: pg?.url,
    async close() {
      await database.close();
      await pg?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
