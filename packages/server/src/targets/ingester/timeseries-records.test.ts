import { describe, expect, it } from 'vitest';
import { deviceTime, logRecords, telemetrySample } from './timeseries-records.js';

const ref = { deviceId: 'd', orgId: 'o', fleetId: 'f' };
const now = Date.parse('2026-03-01T10:00:00.000Z');

describe('time-series records', () => {
  it('takes the device time unless it lies in the future', () => {
    expect(deviceTime('2026-03-01T09:59:00.000Z', now)).toEqual(new Date(now - 60_000));
    expect(deviceTime('2026-03-02T00:00:00.000Z', now)).toEqual(new Date(now));
  });

  it('splits a telemetry message into standard metrics and custom ones', () => {
    expect(
      telemetrySample(
        ref,
        { v: 1, sent_at: '2026-03-01T09:59:59.000Z', cpu_percent: 12.5, custom: { 'q.len': 3 } },
        now,
      ),
    ).toEqual({
      deviceId: 'd',
      orgId: 'o',
      fleetId: 'f',
      time: new Date(now - 1000),
      metrics: { cpu_percent: 12.5 },
      custom: { 'q.len': 3 },
    });
  });

  it('makes a record of each log line', () => {
    const records = logRecords(
      ref,
      {
        v: 1,
        lines: [
          { service: 'web', timestamp: '2026-03-01T09:00:00Z', stream: 'stderr', message: 'x' },
          { service: null, timestamp: '2026-03-01T09:00:01Z', stream: 'system', message: 'y' },
        ],
      },
      now,
    );
    expect(records.map((r) => [r.service, r.stream, r.message])).toEqual([
      ['web', 'stderr', 'x'],
      [null, 'system', 'y'],
    ]);
  });
});
