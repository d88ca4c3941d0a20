import type { HealthCriteria, TelemetryThreshold } from '@flock/protocol';
import { type RawBuilder, sql } from 'kysely';
import type { Tx } from '../../platform/db/database.js';
import { sideKey, thresholdKey } from './health-gate.js';

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

const reachedStatuses = sql`('targeted', 'downloading', 'installing', 'succeeded', 'failed')`;

async function aggregateOver(
  tx: Tx,
  rolloutId: string,
  threshold: TelemetryThreshold,
  side: 'reached' | 'holdback',
  now: Date,
): Promise<number | null> {
  const since = new Date(now.getTime() - threshold.window_seconds * 1000);
  const statuses = side === 'reached' ? reachedStatuses : sql`('held_back')`;
  const { rows } = await sql<{ value: number | string | null }>`
    select ${aggregateOf(threshold)} as value from telemetry_samples
    where time >= ${since} and device_id in (
      select device_id from rollout_devices
      where rollout_id = ${rolloutId} and status in ${statuses})`.execute(tx);
  const value = rows[0]?.value;
  return value === null || value === undefined ? null : Number(value);
}

/**
 * Each telemetry threshold's aggregate over its window, across the devices
 * the rollout reached, or for a threshold relative to the holdback the
 * difference between the reached devices and the held-back ones, with both
 * sides; null where there were no samples.
 */
export async function gateTelemetry(
  tx: Tx,
  rolloutId: string,
  criteria: HealthCriteria,
  now: Date,
): Promise<Record<string, number | null>> {
  const result: Record<string, number | null> = {};
  for (const threshold of criteria.telemetry_thresholds ?? []) {
    const reached = await aggregateOver(tx, rolloutId, threshold, 'reached', now);
    if (threshold.relative_to !== 'holdback') {
      result[thresholdKey(threshold)] = reached;
      continue;
    }
    const holdback = await aggregateOver(tx, rolloutId, threshold, 'holdback', now);
    result[sideKey(threshold, 'reached')] = reached;
    result[sideKey(threshold, 'holdback')] = holdback;
    result[thresholdKey(threshold)] =
      reached === null || holdback === null ? null : reached - holdback;
  }
  return result;
}
