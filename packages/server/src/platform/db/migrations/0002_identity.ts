import { type Kysely, sql } from 'kysely';

const roleCheck = sql`check (role in ('owner', 'admin', 'developer', 'viewer'))`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table installation add column bootstrapped_at timestamptz`.execute(db);

  await sql`
    create table orgs (
      id uuid primary key default gen_random_uuid(),
      name text not null,
      created_at timestamptz not null default now()
    )`.execute(db);

  await sql`
    create table users (
      id uuid primary key default gen_random_uuid(),
      issuer text not null,
      subject text not null,
      email text,
      name text,
      created_at timestamptz not null default now(),
      last_login_at timestamptz,
      unique (issuer, subject)
    )`.execute(db);

  // A membership is pending (user_id null) until someone with that email
  // first logs in; the email is stored lower-cased.
  await sql`
    create table memberships (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references orgs (id) on delete cascade,
      user_id uuid references users (id) on delete cascade,
      email text not null,
      role text not null ${roleCheck},
      created_at timestamptz not null default now(),
      joined_at timestamptz,
      unique (org_id, email),
      unique (org_id, user_id)
    )`.execute(db);
  await sql`create index memberships_user on memberships (user_id)`.execute(db);
  await sql`create index memberships_email on memberships (email) where user_id is null`.execute(
    db,
  );

  await sql`
    create table api_keys (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references orgs (id) on delete cascade,
      name text not null,
      prefix text not null unique,
      secret_hash text not null,
      role text not null ${roleCheck},
      created_by_type text not null,
      created_by_id text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz
    )`.execute(db);
  await sql`create index api_keys_org on api_keys (org_id)`.execute(db);

  await sql`
    create table fleets (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references orgs (id) on delete cascade,
      name text not null,
      device_type text not null,
      architecture text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (org_id, name)
    )`.execute(db);

  await sql`
    create table provisioning_keys (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references orgs (id) on delete cascade,
      fleet_id uuid not null references fleets (id) on delete cascade,
      name text not null,
      prefix text not null unique,
      secret_hash text not null,
      expires_at timestamptz,
      max_uses integer check (max_uses is null or max_uses > 0),
      uses integer not null default 0,
      revoked_at timestamptz,
      created_by_type text not null,
      created_by_id text not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index provisioning_keys_fleet on provisioning_keys (fleet_id)`.execute(db);

  // Fleets keep their devices: deleting a fleet that still has devices fails.
  await sql`
    create table devices (
      id uuid primary key,
      org_id uuid not null references orgs (id) on delete cascade,
      fleet_id uuid not null references fleets (id) on delete restrict,
      name text not null,
      device_type text not null,
      architecture text not null,
      os_version text,
      agent_version text,
      secret_hash text not null,
      provisioning_key_id uuid references provisioning_keys (id) on delete set null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      last_seen_at timestamptz
    )`.execute(db);
  await sql`create index devices_fleet on devices (fleet_id)`.execute(db);
  await sql`create index devices_org on devices (org_id)`.execute(db);

  // Private keys are stored sealed with the installation's secret key.
  await sql`
    create table signing_keys (
      kid text primary key,
      algorithm text not null,
      public_jwk jsonb not null,
      private_jwk_sealed text not null,
      created_at timestamptz not null default now(),
      retired_at timestamptz,
      expires_at timestamptz
    )`.execute(db);

  await sql`
    create table audit_heads (
      org_id uuid primary key references orgs (id) on delete cascade,
      seq bigint not null,
      hash text not null
    )`.execute(db);

  await sql`
    create table audit_events (
      org_id uuid not null,
      seq bigint not null,
      id uuid not null unique,
      occurred_at timestamptz not null,
      actor_type text not null,
      actor_id text not null,
      action text not null,
      resource_type text not null,
      resource_id text not null,
      summary jsonb not null,
      request_id text,
      source_ip text,
      prev_hash text not null,
      hash text not null,
      primary key (org_id, seq)
    )`.execute(db);
  await sql`create index audit_events_time on audit_events (org_id, occurred_at)`.execute(db);
  await sql`create index audit_events_resource on audit_events (org_id, resource_type, resource_id)`.execute(
    db,
  );

  // Append-only: the application never updates or deletes audit rows. The
  // hash chain detects tampering by anyone who bypasses this.
  await sql`
    create function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only';
    end
    $$`.execute(db);
  await sql`
    create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_events_append_only()`.execute(db);

  await sql`
    create table audit_sink_positions (
      sink text not null,
      org_id uuid not null,
      seq bigint not null,
      primary key (sink, org_id)
    )`.execute(db);
}
