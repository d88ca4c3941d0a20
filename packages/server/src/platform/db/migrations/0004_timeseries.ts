import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Append-only series behind TimeseriesStore: no foreign keys (a sample for a
  // device deleted a moment ago must not fail its whole batch, and ClickHouse
  // would have none either); retention deletes old rows in small batches.
  await sql`
    create table telemetry_samples (
      device_id uuid not null,
      org_id uuid not null,
      fleet_id uuid,
      time timestamptz not null,
      cpu_percent real,
      memory_used_bytes bigint,
      memory_total_bytes bigint,
      disk_used_bytes bigint,
      disk_total_bytes bigint,
      network_rx_bytes bigint,
      network_tx_bytes bigint,
      temperature_c real,
      custom jsonb
    )`.execute(db);
  // Rows arrive roughly in time order, so a BRIN index stays tiny and serves
  // time ranges and retention; one device's chart needs the btree.
  await sql`create index telemetry_samples_time on telemetry_samples using brin (time)`.execute(db);
  await sql`
    create index telemetry_samples_device_time on telemetry_samples (device_id, time)`.execute(db);

  // id orders lines of one instant and is the paging cursor's tie-breaker.
  await sql`
    create table device_logs (
      id bigint generated always as identity,
      device_id uuid not null,
      org_id uuid not null,
      time timestamptz not null,
      service text,
      stream text not null,
      message text not null
    )`.execute(db);
  await sql`create index device_logs_time on device_logs using brin (time)`.execute(db);
  await sql`create index device_logs_device_time on device_logs (device_id, time, id)`.execute(db);
}
