import { type TelemetryMetric, telemetryMetrics } from '@flock/protocol';
import { type Insertable, sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { DeviceLogsTable, TelemetrySamplesTable } from '../db/schema.js';
import type {
  LogPage,
  LogQuery,
  LogRecord,
  TelemetryPoint,
  TelemetryQuery,
  TelemetrySample,
  TimeseriesKind,
  TimeseriesStore,
} from './timeseries-store.js';

// PostgreSQL takes at most 65,535 parameters per statement.
const telemetryRowsPerInsert = 2_000;
const logRowsPerInsert = 5_000;
const customMetricName = /^[a-z][a-z0-9_.]{0,62}$/;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class TimeseriesQueryError extends Error {
  override name = 'TimeseriesQueryError';
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// PostgreSQL text cannot hold NUL, and one such line would fail its whole batch.
function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

function telemetryRow(sample: TelemetrySample): Insertable<TelemetrySamplesTable> {
  const { metrics } = sample;
  const custom = sample.custom !== undefined && Object.keys(sample.custom).length > 0;
  return {
    device_id: sample.deviceId,
    org_id: sample.orgId,
    fleet_id: sample.fleetId,
    time: sample.time,
    cpu_percent: metrics.cpu_percent ?? null,
    memory_used_bytes: metrics.memory_used_bytes ?? null,
    memory_total_bytes: metrics.memory_total_bytes ?? null,
    disk_used_bytes: metrics.disk_used_bytes ?? null,
    disk_total_bytes: metrics.disk_total_bytes ?? null,
    network_rx_bytes: metrics.network_rx_bytes ?? null,
    network_tx_bytes: metrics.network_tx_bytes ?? null,
    temperature_c: metrics.temperature_c ?? null,
    custom: custom ? JSON.stringify(sample.custom) : null,
  };
}

function logRow(record: LogRecord): Insertable<DeviceLogsTable> {
  return {
    device_id: record.deviceId,
    org_id: record.orgId,
    time: record.time,
    service: record.service,
    stream: record.stream,
    message: withoutNul(record.message),
  };
}

function encodeCursor(time: Date, id: string): string {
  return Buffer.from(JSON.stringify([time.toISOString(), id])).toString('base64url');
}

function decodeCursor(cursor: string): { time: Date; id: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2) {
      const [time, id] = parsed as unknown[];
      const date = new Date(String(time));
      if (typeof id === 'string' && /^\d{1,19}$/.test(id) && !Number.isNaN(date.getTime()))
        return { time: date, id };
    }
  } catch {
    // Reported below, like any other malformed cursor.
  }
  throw new TimeseriesQueryError('the log cursor is malformed');
}

/** The SQL of the value a query aggregates: a column, or one key of `custom`. */
function seriesExpression(metric: TelemetryQuery['metric']) {
  if ((telemetryMetrics as readonly string[]).includes(metric))
    return sql.ref(`telemetry_samples.${metric as TelemetryMetric}`);
  const name = metric.startsWith('custom.') ? metric.slice('custom.'.length) : '';
  if (!customMetricName.test(name))
    throw new TimeseriesQueryError(`unknown metric ${JSON.stringify(metric)}`);
  return sql`(telemetry_samples.custom ->> ${name})::float8`;
}

const aggregates = {
  avg: (value: ReturnType<typeof seriesExpression>) => sql`avg(${value})::float8`,
  min: (value: ReturnType<typeof seriesExpression>) => sql`min(${value})::float8`,
  max: (value: ReturnType<typeof seriesExpression>) => sql`max(${value})::float8`,
  sum: (value: ReturnType<typeof seriesExpression>) => sql`sum(${value})::float8`,
  count: (value: ReturnType<typeof seriesExpression>) => sql`count(${value})::float8`,
};

/** Time series in PostgreSQL or PGlite tables (migration 0004), written with multi-row inserts. */
export class PostgresTimeseriesStore implements TimeseriesStore {
  constructor(private readonly db: Db) {}

  async writeTelemetry(batch: readonly TelemetrySample[]): Promise<void> {
    for (const rows of chunks(batch.map(telemetryRow), telemetryRowsPerInsert)) {
      await this.db.insertInto('telemetry_samples').values(rows).execute();
    }
  }

  async writeLogs(batch: readonly LogRecord[]): Promise<void> {
    for (const rows of chunks(batch.map(logRow), logRowsPerInsert)) {
      await this.db.insertInto('device_logs').values(rows).execute();
    }
  }

  async queryTelemetry(query: TelemetryQuery): Promise<TelemetryPoint[]> {
    if (!Number.isInteger(query.bucketSeconds) || query.bucketSeconds < 1)
      throw new TimeseriesQueryError('bucketSeconds must be a whole number of seconds, at least 1');
    const value = seriesExpression(query.metric);
    const deviceIds = query.deviceIds.filter((id) => uuid.test(id));
    if (deviceIds.length === 0) return [];
    const bucket = sql<Date>`date_bin(make_interval(secs => ${query.bucketSeconds}), telemetry_samples.time, timestamptz '1970-01-01 00:00:00+00')`;
    const rows = await this.db
      .selectFrom('telemetry_samples')
      .select([
        'device_id',
        bucket.as('bucket'),
        aggregates[query.aggregate](value).$castTo<number>().as('value'),
      ])
      .where('device_id', 'in', deviceIds)
      .where('time', '>=', query.from)
      .where('time', '<', query.to)
      .where(sql<boolean>`${value} is not null`)
      .groupBy(['device_id', sql`2`])
      .orderBy('device_id')
      .orderBy(sql`2`)
      .execute();
    return rows.map((row) => ({
      deviceId: row.device_id,
      time: new Date(row.bucket),
      value: row.value,
    }));
  }

  async queryLogs(query: LogQuery): Promise<LogPage> {
    const limit = Math.max(1, Math.min(query.limit, 10_000));
    if (!uuid.test(query.deviceId)) return { lines: [], next: null };
    let select = this.db
      .selectFrom('device_logs')
      .select(['id', 'device_id', 'org_id', 'time', 'service', 'stream', 'message'])
      .where('device_id', '=', query.deviceId);
    if (query.from !== undefined) select = select.where('time', '>=', query.from);
    if (query.after !== undefined) {
      const after = decodeCursor(query.after);
      select = select.where((eb) =>
        eb(eb.refTuple('time', 'id'), '>', eb.tuple(after.time, after.id)),
      );
    }
    const rows = await select
      .orderBy('time')
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    const lines = rows.slice(0, limit).map((row) => ({
      deviceId: row.device_id,
      orgId: row.org_id,
      time: row.time,
      service: row.service,
      stream: row.stream,
      message: row.message,
      cursor: encodeCursor(row.time, row.id),
    }));
    const last = lines.at(-1);
    return { lines, next: rows.length > limit && last !== undefined ? last.cursor : null };
  }

  async purgeBefore(kind: TimeseriesKind, before: Date, limit: number): Promise<number> {
    const table = kind === 'telemetry' ? 'telemetry_samples' : 'device_logs';
    // ctid picks the rows without a key; the BRIN index finds the old ones.
    const result = await sql`
      delete from ${sql.table(table)} where ctid in (
        select ctid from ${sql.table(table)} where time < ${before} limit ${limit}
      )`.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }
}
