import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { PostgresTimeseriesStore } from '../../../platform/timeseries/postgres-timeseries-store.js';
import { deviceTelemetryRoutes } from './device-telemetry-routes.js';

describe.each(apiBackends)('device telemetry routes on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let viewer: string;
  let device: string;
  const start = Date.parse('2026-11-22T10:00:00.000Z');

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deviceTelemetryRoutes] });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    viewer = await api.createApiKey(org, 'viewer');
    device = await api.createDevice(org, fleet);
    // What the ingester writes: a sample every 10 s for 2 minutes, cpu = minute * 10 + second / 10.
    await new PostgresTimeseriesStore(api.database.db).writeTelemetry(
      Array.from({ length: 12 }, (_, i) => ({
        deviceId: device,
        orgId: org,
        fleetId: fleet,
        time: new Date(start + i * 10_000),
        metrics: { cpu_percent: Math.floor(i / 6) * 10 + (i % 6) },
      })),
    );
  });
  afterAll(async () => api?.close());

  const query = (params: string, deviceId = device) =>
    api.app.inject({
      method: 'GET',
      url: `/v1/devices/${deviceId}/telemetry?${params}`,
      headers: bearer(viewer),
    });
  const range = 'from=2026-11-22T10:00:00.000Z&to=2026-11-22T10:02:00.000Z';

  it('downsamples a metric into buckets with the aggregate asked for', async () => {
    const mean = await query(`metric=cpu_percent&${range}&bucket_seconds=60&aggregate=mean`);
    expect(mean.statusCode).toBe(200);
    expect(mean.json()).toEqual({
      metric: 'cpu_percent',
      aggregate: 'mean',
      from: '2026-11-22T10:00:00.000Z',
      to: '2026-11-22T10:02:00.000Z',
      bucket_seconds: 60,
      points: [
        { time: '2026-11-22T10:00:00.000Z', value: 2.5 },
        { time: '2026-11-22T10:01:00.000Z', value: 12.5 },
      ],
    });
    const max = await query(`metric=cpu_percent&${range}&bucket_seconds=60&aggregate=max`);
    expect(max.json().points.map((p: { value: number }) => p.value)).toEqual([5, 15]);
    const min = await query(`metric=cpu_percent&${range}&bucket_seconds=120&aggregate=min`);
    expect(min.json().points.map((p: { value: number }) => p.value)).toEqual([0]);
  });

  it('chooses a bucket when none is given', async () => {
    const response = await query(`metric=cpu_percent&${range}&aggregate=mean`);
    expect(response.statusCode).toBe(200);
    expect(response.json().bucket_seconds).toBe(1);
    expect(response.json().points).toHaveLength(12);
  });

  it('names the field of a bad query', async () => {
    const cases: [string, string][] = [
      [`metric=load&${range}&aggregate=mean`, '/query/metric'],
      [`metric=cpu_percent&${range}&aggregate=p99`, '/query/aggregate'],
      [`metric=cpu_percent&from=yesterday&aggregate=mean`, '/query/from'],
      [`metric=cpu_percent&${range}&bucket_seconds=0&aggregate=mean`, '/query/bucket_seconds'],
      [
        `metric=cpu_percent&from=2026-11-22T10:02:00Z&to=2026-11-22T10:00:00Z&aggregate=max`,
        '/query/from',
      ],
      [
        `metric=cpu_percent&from=2026-01-01T00:00:00Z&to=2026-11-22T10:00:00Z&bucket_seconds=60&aggregate=max`,
        '/query/bucket_seconds',
      ],
    ];
    for (const [params, field] of cases) {
      const response = await query(params);
      expect(response.statusCode, params).toBe(400);
      expect(
        response.json().errors.map((e: { field: string }) => e.field),
        params,
      ).toContain(field);
    }
  });

  it('answers 404 for a device of another org', async () => {
    const otherOrg = await api.createOrg();
    const other = await api.createDevice(otherOrg, await api.createFleet(otherOrg));
    expect((await query(`metric=cpu_percent&aggregate=mean`, other)).statusCode).toBe(404);
  });
});
