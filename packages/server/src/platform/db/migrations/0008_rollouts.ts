import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // One row: who leads the scheduler and under which term. A takeover bumps
  // the term; every write of the leader checks its term in the same
  // transaction (docs/decisions/0500-scheduler-leadership-and-fencing.md).
  await sql`
    create table scheduler_leadership (
      id integer primary key check (id = 1),
      term bigint not null,
      holder text not null,
      lease_until timestamptz not null
    )`.execute(db);
  await sql`
    insert into scheduler_leadership (id, term, holder, lease_until)
    values (1, 0, '', 'epoch')`.execute(db);

  // Written by the scheduler alone; the API only reads it.
  await sql`
    create table rollouts (
      id uuid primary key,
      org_id uuid not null references orgs (id) on delete cascade,
      fleet_id uuid not null references fleets (id) on delete cascade,
      deployment_id uuid not null unique references deployments (id) on delete cascade,
      release_id uuid references releases (id) on delete restrict,
      state text not null check (state in
        ('running', 'paused', 'completed', 'halted', 'frozen', 'rolled_back', 'aborted', 'failed')),
      reason text,
      stage integer not null,
      stage_count integer not null,
      stage_started_at timestamptz,
      awaiting_advance boolean not null default false,
      term bigint not null,
      assignment_seq integer not null default 0,
      targeted integer not null default 0,
      downloading integer not null default 0,
      installing integer not null default 0,
      succeeded integer not null default 0,
      failed integer not null default 0,
      skipped integer not null default 0,
      held_back integer not null default 0,
      planned integer not null default 0,
      started_at timestamptz not null,
      updated_at timestamptz not null,
      ended_at timestamptz
    )`.execute(db);
  await sql`create index rollouts_fleet_active on rollouts (fleet_id) where ended_at is null`.execute(
    db,
  );

  // Every device a rollout's selector matched when planned or when a stage
  // began: planned ones wait for their stage, targeted ones stay targeted.
  // desired_release_id is what this rollout says the device runs now: the
  // release, or after a revert the one it ran before (a pointer move).
  await sql`
    create table rollout_devices (
      rollout_id uuid not null references rollouts (id) on delete cascade,
      device_id uuid not null references devices (id) on delete cascade,
      stage integer,
      cohort_bucket integer not null,
      status text not null check (status in ('planned', 'held_back', 'skipped', 'targeted',
        'downloading', 'installing', 'succeeded', 'failed')),
      skip_reason text,
      previous_release_id uuid,
      desired_release_id uuid,
      updates_paused boolean not null default false,
      assignment_seq integer,
      error text,
      targeted_at timestamptz,
      reported_at timestamptz,
      primary key (rollout_id, device_id)
    )`.execute(db);
  await sql`create index rollout_devices_device on rollout_devices (device_id, targeted_at)
    where assignment_seq is not null`.execute(db);
  await sql`create index rollout_devices_assignment on rollout_devices (rollout_id, assignment_seq)`.execute(
    db,
  );

  // What operators asked for; the API writes these, the scheduler acts on them.
  await sql`
    create table rollout_intents (
      id bigserial primary key,
      org_id uuid not null references orgs (id) on delete cascade,
      deployment_id uuid not null references deployments (id) on delete cascade,
      rollout_id uuid not null,
      action text not null check (action in
        ('start', 'pause', 'resume', 'advance', 'abort', 'rollback')),
      actor_type text not null,
      actor_id text not null,
      created_at timestamptz not null default now(),
      processed_at timestamptz,
      outcome text,
      detail text
    )`.execute(db);
  await sql`create unique index rollout_intents_one_start on rollout_intents (deployment_id)
    where action = 'start'`.execute(db);
  await sql`create index rollout_intents_pending on rollout_intents (id) where processed_at is null`.execute(
    db,
  );

  // Every health gate verdict with what it was judged on: "why did it pause?".
  await sql`
    create table rollout_gate_evaluations (
      id bigserial primary key,
      rollout_id uuid not null references rollouts (id) on delete cascade,
      stage integer not null,
      evaluated_at timestamptz not null,
      verdict text not null check (verdict in ('pass', 'fail', 'wait')),
      inputs jsonb not null,
      reasons jsonb not null,
      term bigint not null
    )`.execute(db);
  await sql`create index rollout_gate_evaluations_rollout on rollout_gate_evaluations (rollout_id, id)`.execute(
    db,
  );
}
