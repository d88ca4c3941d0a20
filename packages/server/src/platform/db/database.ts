import type { Kysely, Transaction } from 'kysely';
import type { DatabaseSchema } from './schema.js';

export type Db = Kysely<DatabaseSchema>;
export type Tx = Transaction<DatabaseSchema>;

/** Relational storage: PostgreSQL in production, PGlite embedded. Same migrations, same SQL. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Db;
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Throws when the database cannot answer a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
