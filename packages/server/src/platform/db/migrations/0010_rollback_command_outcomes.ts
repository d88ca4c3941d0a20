import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // What the rollback command a reverted device ran returned: exit code,
  // timeout, when it was reported and the tail of its output. One document,
  // written once per device, read with the row
  // (docs/decisions/0512-rollback-command-outcomes.md).
  await sql`alter table rollout_devices add column rollback_command jsonb`.execute(db);
}
