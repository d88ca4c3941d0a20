import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // revision is reserved before a publish and content_hash recorded after it,
  // so a crash in between republishes under a fresh revision rather than
  // reusing one a device may already hold.
  await sql`
    create table desired_states (
      device_id uuid primary key references devices (id) on delete cascade,
      revision bigint not null,
      content_hash text,
      published_at timestamptz
    )`.execute(db);
}
