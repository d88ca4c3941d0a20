import type { ColumnType } from 'kysely';

/** A timestamptz column the database fills in and nobody updates. */
export type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

/**
 * A jsonb column: written as JSON text, read back parsed. node-postgres sends a
 * JavaScript array as a Postgres array literal, which jsonb rejects, so writes
 * go through JSON.stringify on every backend.
 */
export type JsonColumn<T> = ColumnType<T, string, string>;

/**
 * The identity of this Flock installation: one row, created on first start,
 * kept for the life of the database.
 */
export interface InstallationTable {
  id: ColumnType<string, string | undefined, never>;
  created_at: CreatedAt;
}

/** Every table as Kysely sees it; migrations/ creates them, in the same shape. */
export interface DatabaseSchema {
  installation: InstallationTable;
}
