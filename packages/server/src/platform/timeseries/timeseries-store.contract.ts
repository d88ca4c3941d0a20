import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetrySample, TimeseriesStore } from './timeseries-store.js';

export interface OpenedTimeseriesStore {
  store: TimeseriesStore;
  close(): Promise<void>;
}

const t0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (seconds: number) => new Date(t0 + seconds * 1000);

/** What every TimeseriesStore must do; `open` returns an empty store. */
export function timeseriesStoreContract(
  name: string,
  open: () => Promise<OpenedTimeseriesStore>,
): void {
  describe(`TimeseriesStore contract: ${name}`, () => {
    let opened: OpenedTimeseriesStore;
    let store: TimeseriesStore;
    const orgId = randomUUID();

    beforeAll(async () => {
      opened = await open();
      store = opened.store;
    });
    afterAll(async () => {
      await opened.close();
    });

    const sample = (
      deviceId: string,
      seconds: number,
      cpu: number,
      custom?: Record<string, number>,
    ): TelemetrySample => ({
      deviceId,
      orgId,
      fleetId: null,
      time: at(seconds),
      metrics: { cpu_percent: cpu, memory_used_bytes: 2 ** 40 + seconds },
      ...(custom === undefined ? {} : { custom }),
    });

    it('downsamples a metric per device into buckets, with each aggregate', async () => {
      const [a, b] = [randomUUID(), randomUUID()].sort() as [string, string];
      await store.writeTelemetry([
        sample(a, 0, 10),
        sample(a, 30, 20),
        sample(a, 60, 40),
        sample(a, 150, 80),
        sample(b, 5, 50),
        sample(b, 400, 99),
      ]);
      const query = {
        deviceIds: [a, b],
        metric: 'cpu_percent' as const,
        from: at(0),
        to: at(300),
        bucketSeconds: 60,
      };
      expect(await store.queryTelemetry({ ...query, aggregate: 'avg' })).toEqual([
        { deviceId: a, time: at(0), value: 15 },
        { deviceId: a, time: at(60), value: 40 },
        { deviceId: a, time: at(120), value: 80 },
        { deviceId: b, time: at(0), value: 50 },
      ]);
      const max = await store.queryTelemetry({ ...query, aggregate: 'max', bucketSeconds: 3600 });
      expect(max).toEqual([
        { deviceId: a, time: at(0), value: 80 },
        { deviceId: b, time: at(0), value: 50 },
      ]);
      const count = await store.queryTelemetry({ ...query, deviceIds: [a], aggregate: 'count' });
      expect(count.map((p) => p.value)).toEqual([2, 1, 1]);
      const bytes = await store.queryTelemetry({
        ...query,
        deviceIds: [a],
        metric: 'memory_used_bytes',
        aggregate: 'min',
        bucketSeconds: 3600,
      });
      expect(bytes).toEqual([{ deviceId: a, time: at(0), value: 2 ** 40 }]);
    });

    it('reads application metrics by name and skips samples without them', async () => {
      const device = randomUUID();
      await store.writeTelemetry([
        sample(device, 0, 1, { 'queue.depth': 4 }),
        sample(device, 10, 1),
        sample(device, 20, 1, { 'queue.depth': 8 }),
      ]);
      const points = await store.queryTelemetry({
        deviceIds: [device],
        metric: 'custom.queue.depth',
        from: at(0),
        to: at(60),
        bucketSeconds: 60,
        aggregate: 'sum',
      });
      expect(points).toEqual([{ deviceId: device, time: at(0), value: 12 }]);
      await expect(
        store.queryTelemetry({
          deviceIds: [device],
          metric: 'custom.x; drop table telemetry_samples',
          from: at(0),
          to: at(60),
          bucketSeconds: 60,
          aggregate: 'sum',
        }),
      ).rejects.toThrow(/unknown metric/);
    });

    it('pages logs oldest first with a cursor, lines of one instant included', async () => {
      const device = randomUUID();
      const lines = Array.from({ length: 7 }, (_, i) => ({
        deviceId: device,
        orgId,
        time: at(i < 4 ? 0 : i),
        service: i % 2 === 0 ? 'web' : null,
        stream: 'stdout' as const,
        message: `line ${i}${i === 3 ? ' with a \u0000 byte' : ''}`,
      }));
      await store.writeLogs(lines);
      await store.writeLogs([{ ...lines[0]!, deviceId: randomUUID(), message: 'other device' }]);

      const first = await store.queryLogs({ deviceId: device, limit: 3 });
      expect(first.lines.map((l) => l.message)).toEqual(['line 0', 'line 1', 'line 2']);
      expect(first.lines[1]).toMatchObject({ service: null, stream: 'stdout', time: at(0) });
      const second = await store.queryLogs({ deviceId: device, limit: 3, after: first.next! });
      expect(second.lines.map((l) => l.message)).toEqual([
        'line 3 with a \uFFFD byte',
        'line 4',
        'line 5',
      ]);
      const third = await store.queryLogs({ deviceId: device, limit: 3, after: second.next! });
      expect(third.lines.map((l) => l.message)).toEqual(['line 6']);
      expect(third.next).toBeNull();

      const recent = await store.queryLogs({ deviceId: device, from: at(5), limit: 10 });
      expect(recent.lines.map((l) => l.message)).toEqual(['line 5', 'line 6']);
      await expect(
        store.queryLogs({ deviceId: device, limit: 1, after: 'nonsense' }),
      ).rejects.toThrow(/cursor/);
    });

    it('purges rows older than a time, at most a given number per call', async () => {
      const device = randomUUID();
      await store.writeTelemetry(
        Array.from({ length: 5 }, (_, i) => sample(device, -86_400 * 400 + i, 1)),
      );
      await store.writeLogs(
        Array.from({ length: 3 }, (_, i) => ({
          deviceId: device,
          orgId,
          time: at(-86_400 * 400 + i),
          service: null,
          stream: 'system' as const,
          message: 'old',
        })),
      );
      const cutoff = at(-86_400 * 300);
      expect(await store.purgeBefore('telemetry', cutoff, 2)).toBe(2);
      expect(await store.purgeBefore('telemetry', cutoff, 10)).toBe(3);
      expect(await store.purgeBefore('telemetry', cutoff, 10)).toBe(0);
      expect(await store.purgeBefore('logs', cutoff, 10)).toBe(3);
      const left = await store.queryLogs({ deviceId: device, limit: 10 });
      expect(left.lines).toEqual([]);
    });

    it('writes a large batch in one call', async () => {
      const device = randomUUID();
      await store.writeTelemetry(
        Array.from({ length: 5_000 }, (_, i) => sample(device, i, i % 100)),
      );
      const [point] = await store.queryTelemetry({
        deviceIds: [device],
        metric: 'cpu_percent',
        from: at(0),
        to: at(5_000),
        bucketSeconds: 86_400,
        aggregate: 'count',
      });
      expect(point?.value).toBe(5_000);
    });
  });
}
