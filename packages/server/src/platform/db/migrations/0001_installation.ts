import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('installation')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // An index on a constant admits one row, so concurrent first starts can
  // insert with ON CONFLICT DO NOTHING and all read back the same identity.
  await sql`create unique index installation_single_row on installation ((true))`.execute(db);
}
