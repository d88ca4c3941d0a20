import type { TelemetryMetric } from '@flock/protocol';

/** One telemetry message of one device. */
export interface TelemetrySample {
  deviceId: string;
  orgId: string;
  fleetId: string | null;
  /** When the device took the sample. */
  time: Date;
  metrics: Partial<Record<TelemetryMetric, number>>;
  /** Application metrics by name. */
  custom?: Readonly<Record<string, number>>;
}

export type LogStream = 'stdout' | 'stderr' | 'system';

export interface LogRecord {
  deviceId: string;
  orgId: string;
  time: Date;
  /** null for the agent's or the host's own lines. */
  service: string | null;
  stream: LogStream;
  message: string;
}

export const telemetryAggregates = ['avg', 'min', 'max', 'sum', 'count'] as const;
export type TelemetryAggregate = (typeof telemetryAggregates)[number];

/** A standard metric, or `custom.<name>` for an application metric. */
export type TelemetrySeries = TelemetryMetric | `custom.${string}`;

export interface TelemetryQuery {
  deviceIds: readonly string[];
  metric: TelemetrySeries;
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  /** Width of each downsampled point; buckets start at multiples of it since the epoch. */
  bucketSeconds: number;
  aggregate: TelemetryAggregate;
}

/** One bucket of one device's series; buckets without samples are left out. */
export interface TelemetryPoint {
  deviceId: string;
  /** The bucket's start. */
  time: Date;
  value: number;
}

export interface LogQuery {
  deviceId: string;
  /** Inclusive; the oldest kept line when absent. */
  from?: Date;
  limit: number;
  /** A `next` cursor of an earlier page: lines after the last one it returned. */
  after?: string;
}

export interface StoredLogLine extends LogRecord {
  /** Pass as `after` to read on from this line. */
  cursor: string;
}

export interface LogPage {
  /** Oldest first. */
  lines: StoredLogLine[];
  /** Set when more lines follow. */
  next: string | null;
}

export type TimeseriesKind = 'telemetry' | 'logs';

/**
 * Where telemetry and device logs are kept and read back. PostgreSQL (or
 * PGlite) tables first; a ClickHouse implementation can take over the same
 * interface when the volume needs it.
 */
export interface TimeseriesStore {
  writeTelemetry(batch: readonly TelemetrySample[]): Promise<void>;
  writeLogs(batch: readonly LogRecord[]): Promise<void>;
  queryTelemetry(query: TelemetryQuery): Promise<TelemetryPoint[]>;
  queryLogs(query: LogQuery): Promise<LogPage>;
  /**
   * Deletes at most `limit` rows of `kind` older than `before` and says how
   * many; callers repeat until it answers less than `limit`, so that no
   * single statement holds locks or bloats a transaction for long.
   */
  purgeBefore(kind: TimeseriesKind, before: Date, limit: number): Promise<number>;
}
