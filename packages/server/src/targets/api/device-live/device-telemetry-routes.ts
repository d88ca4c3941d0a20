import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DeviceTelemetryQuery, DeviceTelemetrySeries } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { HttpProblem } from '../../../platform/http/problem.js';
import { PostgresTimeseriesStore } from '../../../platform/timeseries/postgres-timeseries-store.js';
import type {
  TelemetryAggregate,
  TelemetrySeries,
} from '../../../platform/timeseries/timeseries-store.js';
import type { RouteGroup } from '../build-api.js';

const DeviceParams = Type.Object({ deviceId: Type.String() });

/** A chart is never worth more points than this; a wider range needs wider buckets. */
export const maxTelemetryPoints = 1000;
const defaultPoints = 300;
const defaultRangeMs = 60 * 60 * 1000;

const storeAggregates: Record<DeviceTelemetryQuery['aggregate'], TelemetryAggregate> = {
  mean: 'avg',
  min: 'min',
  max: 'max',
};

/** One device's telemetry, downsampled into buckets by the time-series store. */
export const deviceTelemetryRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const store = new PostgresTimeseriesStore(services.database.db);

  api.get(
    '/v1/devices/:deviceId/telemetry',
    {
      schema: {
        summary: 'Query a device’s telemetry',
        description:
          'One metric from `from` (default: an hour before `to`) to `to` (default: now), ' +
          `aggregated per bucket; at most ${maxTelemetryPoints} points, empty buckets left out.`,
        tags: ['devices'],
        params: DeviceParams,
        querystring: DeviceTelemetryQuery,
        response: { 200: DeviceTelemetrySeries },
      },
    },
    async (request): Promise<DeviceTelemetrySeries> => {
      const query = request.query;
      const to = query.to === undefined ? services.now() : new Date(query.to);
      const from =
        query.from === undefined ? new Date(to.getTime() - defaultRangeMs) : new Date(query.from);
      const rangeSeconds = (to.getTime() - from.getTime()) / 1000;
      if (rangeSeconds <= 0) {
        throw new HttpProblem('validation_failed', 'the range is empty', [
          { field: '/query/from', message: 'must be before to' },
        ]);
      }
      const bucketSeconds =
        query.bucket_seconds ?? Math.max(1, Math.ceil(rangeSeconds / defaultPoints));
      if (rangeSeconds / bucketSeconds > maxTelemetryPoints) {
        throw new HttpProblem('validation_failed', 'too many points', [
          {
            field: '/query/bucket_seconds',
            message: `must be at least ${Math.ceil(rangeSeconds / maxTelemetryPoints)} for this range (at most ${maxTelemetryPoints} points)`,
          },
        ]);
      }
      const points = await store.queryTelemetry({
        deviceIds: [request.params.deviceId],
        // The schema admits only standard metrics and `custom.<name>`.
        metric: query.metric as TelemetrySeries,
        from,
        to,
        bucketSeconds,
        aggregate: storeAggregates[query.aggregate],
      });
      return {
        metric: query.metric,
        aggregate: query.aggregate,
        from: from.toISOString(),
        to: to.toISOString(),
        bucket_seconds: bucketSeconds,
        points: points.map((point) => ({ time: point.time.toISOString(), value: point.value })),
      };
    },
  );
};
