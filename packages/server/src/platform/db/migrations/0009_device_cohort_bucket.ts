import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The stable cohort bucket of packages/protocol `cohortBucket` (FNV-1a over
  // the id's lowercase text, modulo 10,000), computed by the database so
  // that every way a device row is written carries it and it can never
  // disagree with the id. Planning a rollout then selects, orders and places
  // devices in one statement without reading the fleet into the scheduler
  // (docs/decisions/0507-rollout-planning-in-sql.md).
  await sql`
    create function flock_cohort_bucket(id uuid) returns integer
    language plpgsql immutable strict parallel safe as $$
    declare
      bytes bytea := convert_to(id::text, 'UTF8');
      hash bigint := 2166136261;
    begin
      for i in 0 .. length(bytes) - 1 loop
        hash := ((hash # get_byte(bytes, i)) * 16777619) & 4294967295;
      end loop;
      return hash % 10000;
    end $$`.execute(db);
  await sql`
    alter table devices
      add column cohort_bucket integer not null generated always as (flock_cohort_bucket(id)) stored`.execute(
    db,
  );
  await sql`create index devices_fleet_cohort on devices (fleet_id, cohort_bucket)`.execute(db);
}
