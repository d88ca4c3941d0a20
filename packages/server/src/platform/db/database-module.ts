import type { ModuleDefinition } from '../../app/module.js';
import type { Database } from './database.js';
import { ensureInstallation } from './ensure-installation.js';
import { migrateToLatest } from './migrate.js';
import { openDatabase, pgliteDirectory } from './open-database.js';
import { redactDatabaseUrl } from './postgres-database.js';

export const databaseModule: ModuleDefinition<Database, Record<string, never>> = {
  async init({ config, log }) {
    if (config.databaseUrl === undefined) {
      const directory = pgliteDirectory(config.dataDir);
      log.info({ backend: 'pglite', directory }, `opening embedded PGlite in ${directory}`);
    } else {
      const url = redactDatabaseUrl(config.databaseUrl);
      log.info({ backend: 'postgres', url }, `connecting to PostgreSQL at ${url}`);
    }
    const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, log });
    try {
      await migrateToLatest(database.db, log);
      const installationId = await ensureInstallation(database.db);
      log.info({ installationId }, 'database ready');
    } catch (error) {
      // The registry stops only modules whose init returned; an open PGlite would keep the process alive.
      await database.close().catch(() => undefined);
      throw error;
    }
    return {
      exports: database,
      ready: () => database.ping(),
      stop: () => database.close(),
    };
  },
};
