import { PostgresDialect } from 'kysely';
import { Pool } from 'pg';
import type { Logger } from '../log/create-logger.js';
import type { Database } from './database.js';
import { createKyselyDatabase } from './kysely-database.js';

export interface PostgresDatabaseOptions {
  url: string;
  log: Logger;
  /** Connections kept open at most. */
  maxConnections?: number;
}

/** The URL with its password hidden, for logs and errors. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/** Connects to PostgreSQL and checks that it answers before returning. */
export async function openPostgresDatabase(options: PostgresDatabaseOptions): Promise<Database> {
  const pool = new Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    // Without a limit an unreachable server makes start and /readyz wait forever.
    connectionTimeoutMillis: 10_000,
  });
  // An idle connection the server drops is replaced by the pool; unhandled, it would end the process.
  pool.on('error', (error) => options.log.warn({ err: error }, 'idle PostgreSQL connection lost'));
  const database = createKyselyDatabase({
    kind: 'postgres',
    dialect: new PostgresDialect({ pool }),
  });
  try {
    await database.ping();
  } catch (error) {
    await database.close().catch(() => undefined);
    throw new Error(`cannot connect to PostgreSQL at ${redactDatabaseUrl(options.url)}`, {
      cause: error,
    });
  }
  return database;
}
