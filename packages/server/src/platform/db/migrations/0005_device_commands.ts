import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Commands outlive their device's row only as long as the device does: a
  // deregistered device's commands have nobody left to ask about them.
  await sql`
    create table device_commands (
      id uuid primary key,
      org_id uuid not null references orgs (id) on delete cascade,
      device_id uuid not null references devices (id) on delete cascade,
      type text not null,
      service text,
      issued_by_type text not null,
      issued_by_id text not null,
      issued_at timestamptz not null,
      status text not null,
      acked_at timestamptz,
      detail text
    )`.execute(db);
  await sql`
    create index device_commands_device_issued on device_commands (device_id, issued_at)`.execute(
    db,
  );
}
