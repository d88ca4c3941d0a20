import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type {
  TimeseriesKind,
  TimeseriesStore,
} from '../../platform/timeseries/timeseries-store.js';
import { IngesterMetrics } from './ingester-metrics.js';
import { purgeExpired } from './retention.js';

/** A store holding `rows` old rows of each kind, purging as asked. */
function fakeStore(rows: Record<TimeseriesKind, number>) {
  const calls: { kind: TimeseriesKind; before: Date; limit: number }[] = [];
  const store: Pick<TimeseriesStore, 'purgeBefore'> = {
    async purgeBefore(kind, before, limit) {
      calls.push({ kind, before, limit });
      const deleted = Math.min(rows[kind], limit);
      rows[kind] -= deleted;
      return deleted;
    },
  };
  return { store: store as TimeseriesStore, calls };
}

describe('purgeExpired', () => {
  const now = Date.parse('2026-03-31T00:00:00Z');

  it('deletes in small batches until a batch comes back short, per kind and retention', async () => {
    const { store, calls } = fakeStore({ telemetry: 25, logs: 3 });
    const metrics = new IngesterMetrics(new Registry());
    await purgeExpired(
      { store, metrics, days: { telemetry: 30, logs: 7 }, now: () => now, batch: 10, pauseMs: 0 },
      new AbortController().signal,
    );
    expect(calls.map((c) => [c.kind, c.before.toISOString(), c.limit])).toEqual([
      ['telemetry', '2026-03-01T00:00:00.000Z', 10],
      ['telemetry', '2026-03-01T00:00:00.000Z', 10],
      ['telemetry', '2026-03-01T00:00:00.000Z', 10],
      ['logs', '2026-03-24T00:00:00.000Z', 10],
    ]);
    const purged = await metrics.purged.get();
    expect(purged.values.map((v) => [v.labels.kind, v.value])).toEqual([
      ['telemetry', 25],
      ['logs', 3],
    ]);
  });

  it('stops between batches once asked to', async () => {
    const { store, calls } = fakeStore({ telemetry: 1_000, logs: 1_000 });
    const controller = new AbortController();
    controller.abort();
    await purgeExpired(
      {
        store,
        metrics: new IngesterMetrics(new Registry()),
        days: { telemetry: 1, logs: 1 },
        now: () => now,
        batch: 10,
      },
      controller.signal,
    );
    expect(calls).toEqual([]);
  });
});
