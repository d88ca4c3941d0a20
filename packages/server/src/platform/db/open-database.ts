import { join } from 'node:path';
import type { Logger } from '../log/create-logger.js';
import type { Database } from './database.js';
import { openPgliteDatabase } from './pglite-database.js';
import { openPostgresDatabase } from './postgres-database.js';

export interface OpenDatabaseOptions {
  /** A PostgreSQL URL; without one the database is embedded PGlite. */
  url?: string;
  dataDir: string;
  log: Logger;
}

/** Where embedded PGlite keeps its files inside the data directory. */
export function pgliteDirectory(dataDir: string): string {
  return join(dataDir, 'pglite');
}

/** The one place that picks the database backend. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.url !== undefined)
    return openPostgresDatabase({ url: options.url, log: options.log });
  return openPgliteDatabase({ directory: pgliteDirectory(options.dataDir), log: options.log });
}
