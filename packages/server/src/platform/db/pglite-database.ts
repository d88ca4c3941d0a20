import { PGlite, types } from '@electric-sql/pglite';
import { PGliteDialect } from 'kysely';
import type { Logger } from '../log/create-logger.js';
import type { Database } from './database.js';
import { acquireDirectoryLock } from './directory-lock.js';
import { createKyselyDatabase } from './kysely-database.js';

export interface PgliteDatabaseOptions {
  /** Where PGlite keeps its files; created when missing. */
  directory: string;
  log: Logger;
}

/**
 * Starts embedded PGlite in `directory`, locked to this process. Close it:
 * an open instance keeps the process alive.
 */
export async function openPgliteDatabase(options: PgliteDatabaseOptions): Promise<Database> {
  const lock = await acquireDirectoryLock(options.directory);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create({
      dataDir: options.directory,
      // node-postgres returns int8 (count(*) included) as text; PGlite returns a
      // number, or a bigint past 2^53. Text on both keeps code portable and exact.
      parsers: { [types.INT8]: (value: string) => value },
    });
  } catch (error) {
    await lock.release();
    throw new Error(`cannot start PGlite in ${options.directory}`, { cause: error });
  }
  return createKyselyDatabase({
    kind: 'pglite',
    dialect: new PGliteDialect({ pglite }),
    async afterClose() {
      // Kysely closes PGlite only if a query ever ran through it.
      if (!pglite.closed) await pglite.close();
      await lock.release();
    },
  });
}
