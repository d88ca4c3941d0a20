import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Releases are immutable: no route updates a row except to archive it or
  // to mark it deployed (which forbids deleting it afterwards).
  await sql`
    create table releases (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references orgs (id) on delete cascade,
      fleet_id uuid not null references fleets (id) on delete cascade,
      version integer not null,
      semver text,
      notes text,
      compose jsonb not null,
      content_hash text not null,
      created_by_type text not null,
      created_by_id text not null,
      created_at timestamptz not null default now(),
      first_deployed_at timestamptz,
      archived_at timestamptz,
      unique (fleet_id, version)
    )`.execute(db);

  // release_counter hands out per-fleet versions: incrementing it locks the
  // fleet row, so concurrent creates get distinct, increasing versions.
  await sql`
    alter table fleets
      add column release_counter integer not null default 0,
      add column default_release_id uuid references releases (id) on delete restrict,
      add column revision integer not null default 1`.execute(db);

  await sql`
    alter table devices
      add column labels jsonb not null default '{}',
      add column attributes jsonb not null default '{}',
      add column role text,
      add column segment text,
      add column branch text,
      add column update_interval integer,
      add column version_lock uuid references releases (id) on delete restrict,
      add column serial text,
      add column geolocation jsonb,
      add column owner text,
      add column running_release_id uuid references releases (id) on delete set null,
      add column quarantined_at timestamptz,
      add column revision integer not null default 1`.execute(db);
  await sql`create index devices_labels on devices using gin (labels)`.execute(db);
  await sql`create index devices_segment on devices (fleet_id, segment)`.execute(db);
  await sql`create index devices_name on devices (org_id, name)`.execute(db);

  // A deployment is the plan; its execution (rollout) belongs to the scheduler.
  await sql`
    create table deployments (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references orgs (id) on delete cascade,
      fleet_id uuid not null references fleets (id) on delete cascade,
      name text not null,
      release_id uuid references releases (id) on delete restrict,
      selector jsonb not null,
      strategy jsonb not null,
      health jsonb not null,
      rollback jsonb not null,
      host_command jsonb,
      revision integer not null default 1,
      created_by_type text not null,
      created_by_id text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      started_at timestamptz,
      check (release_id is not null or host_command is not null)
    )`.execute(db);
  await sql`create index deployments_fleet on deployments (fleet_id, created_at)`.execute(db);

  // device_id null: a fleet-wide variable; service null: every service.
  await sql`
    create table variables (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references orgs (id) on delete cascade,
      fleet_id uuid not null references fleets (id) on delete cascade,
      device_id uuid references devices (id) on delete cascade,
      service text,
      name text not null,
      value text,
      value_sealed text,
      secret boolean not null default false,
      revision integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((secret and value is null and value_sealed is not null) or (not secret and value is not null and value_sealed is null))
    )`.execute(db);
  await sql`
    create unique index variables_scope on variables (fleet_id, device_id, service, name) nulls not distinct`.execute(
    db,
  );

  // A POST with an Idempotency-Key answers the same response when repeated.
  await sql`
    create table idempotency_keys (
      principal text not null,
      key text not null,
      method text not null,
      path text not null,
      request_hash text not null,
      status integer,
      response_body text,
      response_headers jsonb,
      created_at timestamptz not null default now(),
      primary key (principal, key)
    )`.execute(db);
  await sql`create index idempotency_keys_created on idempotency_keys (created_at)`.execute(db);
}
