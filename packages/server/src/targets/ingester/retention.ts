import { setTimeout as sleep } from 'node:timers/promises';
import type {
  TimeseriesKind,
  TimeseriesStore,
} from '../../platform/timeseries/timeseries-store.js';
import type { IngesterMetrics } from './ingester-metrics.js';

export interface RetentionOptions {
  store: TimeseriesStore;
  metrics: IngesterMetrics;
  days: Record<TimeseriesKind, number>;
  now: () => number;
  /** Rows per delete statement. */
  batch?: number;
  /** Pause between statements, leaving the database to other work. */
  pauseMs?: number;
}

const dayMs = 24 * 3600 * 1000;

/** Deletes telemetry and log rows past their retention, a small batch at a time. */
export async function purgeExpired(options: RetentionOptions, signal: AbortSignal): Promise<void> {
  const { store, metrics, days, now, batch = 5_000, pauseMs = 50 } = options;
  for (const kind of ['telemetry', 'logs'] as const) {
    const before = new Date(now() - days[kind] * dayMs);
    while (!signal.aborted) {
      const deleted = await store.purgeBefore(kind, before, batch);
      metrics.purged.inc({ kind }, deleted);
      if (deleted < batch) break;
      await sleep(pauseMs, undefined, { signal }).catch(() => undefined);
    }
  }
}
