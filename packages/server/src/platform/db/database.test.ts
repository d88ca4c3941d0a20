import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl } from '../../../test/support/postgres.js';
import { databaseContract } from './database.contract.js';
import type { Database } from './database.js';
import { ensureInstallation } from './ensure-installation.js';
import { migrateToLatest, migrations } from './migrate.js';
import { openDatabase } from './open-database.js';

const log = pino({ level: 'silent' });
const scratchDirs: string[] = [];

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flock-db-'));
  scratchDirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(scratchDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('pglite', () => {
  databaseContract('pglite', async () => openDatabase({ dataDir: await scratchDir(), log }), {
    serialisesTransactions: true,
  });
});

const adminUrl = testDatabaseUrl();

describe.skipIf(adminUrl === undefined)(
  adminUrl === undefined ? 'postgres (skipped: FLOCK_TEST_DATABASE_URL is not set)' : 'postgres',
  () => {
    let testDatabase: Awaited<ReturnType<typeof createTestDatabase>> | undefined;

    beforeAll(async () => {
      testDatabase = await createTestDatabase();
    });

    afterAll(async () => {
      await testDatabase?.drop();
    });

    databaseContract(
      'postgres',
      async () => {
        if (testDatabase === undefined) throw new Error('no test database');
        return openDatabase({ url: testDatabase.url, dataDir: await scratchDir(), log });
      },
      { serialisesTransactions: false },
    );

    describe('migrating from several servers at once', () => {
      async function withFreshDatabases<T>(
        count: number,
        fn: (databases: Database[]) => Promise<T>,
      ): Promise<T> {
        const fresh = await createTestDatabase();
        const dataDir = await scratchDir();
        const databases = await Promise.all(
          Array.from({ length: count }, () => openDatabase({ url: fresh.url, dataDir, log })),
        );
        try {
          return await fn(databases);
        } finally {
          await Promise.all(databases.map((database) => database.close()));
          await fresh.drop();
        }
      }

      it('lets four servers migrate one fresh database together', async () => {
        await withFreshDatabases(4, async (databases) => {
          const results = await Promise.all(
            databases.map((database) => migrateToLatest(database.db, log)),
          );
          expect(results.filter((applied) => applied.length > 0)).toEqual([
            Object.keys(migrations),
          ]);
          const ids = await Promise.all(
            databases.map((database) => ensureInstallation(database.db)),
          );
          expect(new Set(ids).size).toBe(1);
          const rows = await databases[0]?.db.selectFrom('installation').select('id').execute();
          expect(rows).toEqual([{ id: ids[0] }]);
        });
      });

      it('makes a second migrator wait on the advisory lock until the first is done', async () => {
        await withFreshDatabases(3, async ([first, second, observer]) => {
          if (first === undefined || second === undefined || observer === undefined) {
            throw new Error('missing database');
          }
          let competitor: Promise<string[]> | undefined;
          let waiting = 0;
          const probed = {
            ...migrations,
            '9999_probe': {
              async up(_db: Kysely<unknown>) {
                competitor = migrateToLatest(second.db, log, probed);
                for (let attempt = 0; attempt < 100 && waiting === 0; attempt++) {
                  const locks = await sql<{ waiting: string }>`
                    select count(*) as waiting from pg_locks
                    where locktype = 'advisory' and not granted
                      and database = (select oid from pg_database where datname = current_database())
                  `.execute(observer.db);
                  waiting = Number(locks.rows[0]?.waiting);
                  if (waiting === 0) await new Promise((resolve) => setTimeout(resolve, 50));
                }
              },
            },
          };
          expect(await migrateToLatest(first.db, log, probed)).toEqual(Object.keys(probed));
          expect(waiting).toBe(1);
          expect(await competitor).toEqual([]);
        });
      });
    });
  },
);
