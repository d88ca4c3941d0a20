import type { HealthCriteria, TelemetryThreshold } from '@flock/protocol';
import { type RawBuilder, sql } from 'kysely';
import type { Tx } from '../../platform/db/database.js';
import { thresholdKey } from './health-gate.js';

/** Standard metrics are columns of telemetry_samples; any other name is a custom metric. */
const columns: Record<string, string> = {
  cpu_percent: 'cpu_percent',
  temperature_c: 'temperature_c',
};

function valueOf(metric: string): RawBuilder<number> {
  const column = columns[metric];
  return column === undefined
    ? sql<number>`(custom ->> ${metric})::float8`
    : sql<number>`${sql.ref(column)}::float8`;
}

function aggregateOf(threshold: TelemetryThreshold): RawBuilder<number | null> {
  const value = valueOf(threshold.metric);
  switch (threshold.aggregate) {
    case 'mean':
      return sql`avg(${value})`;
    case 'max':
      return sql`max(${value})`;
    case 'p95':
      return sql`percentile_cont(0.95) within group (order by ${value})`;
  }
}

/**
 * Each telemetry threshold's aggregate over its window, across the devices
 * the rollout reached; null where there were no samples.
 */
export async function gateTelemetry(
  tx: Tx,
  rolloutId: string,
  criteria: HealthCriteria,
  now: Date,
): Promise<Record<string, number | null>> {
  const result: Record<string, number | null> = {};
  for (const threshold of criteria.telemetry_thresholds ?? []) {
    const since = new Date(now.getTime() - threshold.window_seconds * 1000);
    const { rows } = await sql<{ value: number | string | null }>`
      select ${aggregateOf(threshold)} as value from telemetry_samples
      where time >= ${since} and device_id in (
        select device_id from rollout_devices
        where rollout_id = ${rolloutId}
          and status in ('targeted', 'downloading', 'installing', 'succeeded', 'failed'))`.execute(
      tx,
    );
    const value = rows[0]?.value;
    result[thresholdKey(threshold)] = value === null || value === undefined ? null : Number(value);
  }
  return result;
}
