import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Every public event, once: seq orders the WebSocket stream and its resume
  // cursor, id is the stable event id receivers deduplicate on.
  await sql`
    create table events (
      seq bigserial primary key,
      id uuid not null unique,
      org_id uuid not null references orgs (id) on delete cascade,
      type text not null,
      fleet_id uuid,
      device_id uuid,
      occurred_at timestamptz not null,
      payload jsonb not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index events_org_seq on events (org_id, seq)`.execute(db);
  await sql`create index events_created_at on events using brin (created_at)`.execute(db);

  // The signing secrets are kept encrypted (SecretBox), not hashed: Flock signs with them.
  await sql`
    create table event_subscriptions (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references orgs (id) on delete cascade,
      description text,
      url text not null,
      event_types text[] not null,
      fleet_id uuid references fleets (id) on delete cascade,
      device_id uuid references devices (id) on delete cascade,
      secret_ciphertext text not null,
      previous_secret_ciphertext text,
      previous_secret_expires_at timestamptz,
      status text not null default 'active' check (status in ('active', 'paused', 'disabled')),
      disabled_reason text,
      consecutive_failures integer not null default 0,
      revision integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index event_subscriptions_org on event_subscriptions (org_id)`.execute(db);

  // One row per (subscription, event): the durable outbox. A worker claims a
  // row by moving claimed_until forward under FOR UPDATE SKIP LOCKED, so two
  // gateways never send the same attempt; a crashed claim lapses and is retried.
  await sql`
    create table webhook_outbox (
      id bigserial primary key,
      subscription_id uuid not null references event_subscriptions (id) on delete cascade,
      event_seq bigint not null references events (seq) on delete cascade,
      state text not null default 'pending' check (state in ('pending', 'delivered', 'dead')),
      attempts integer not null default 0,
      next_attempt_at timestamptz not null default now(),
      claimed_until timestamptz,
      claimed_by text,
      created_at timestamptz not null default now(),
      unique (subscription_id, event_seq)
    )`.execute(db);
  await sql`
    create index webhook_outbox_due on webhook_outbox (subscription_id, event_seq)
    where state = 'pending'`.execute(db);
  // Deleting an expired event cascades to its outbox rows and their attempts by these.
  await sql`create index webhook_outbox_event on webhook_outbox (event_seq)`.execute(db);

  await sql`
    create table webhook_deliveries (
      id bigserial primary key,
      outbox_id bigint not null references webhook_outbox (id) on delete cascade,
      subscription_id uuid not null references event_subscriptions (id) on delete cascade,
      event_id uuid not null,
      attempt integer not null,
      attempted_at timestamptz not null,
      success boolean not null,
      status_code integer,
      latency_ms integer not null,
      error text,
      response_excerpt text
    )`.execute(db);
  await sql`
    create index webhook_deliveries_subscription on webhook_deliveries (subscription_id, id desc)
  `.execute(db);
  await sql`create index webhook_deliveries_outbox on webhook_deliveries (outbox_id)`.execute(db);
}
