import type { ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DeviceLogLines, DeviceLogsQuery } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { HttpProblem } from '../../../platform/http/problem.js';
import { PostgresTimeseriesStore } from '../../../platform/timeseries/postgres-timeseries-store.js';
import type { RouteGroup } from '../build-api.js';
import { readRecentLogs } from './read-recent-logs.js';
import { streamDeviceLogs } from './stream-device-logs.js';

const DeviceParams = Type.Object({ deviceId: Type.String() });
const defaultWindowMs = 60 * 60 * 1000;

/** How often a follow stream sends a comment, so proxies keep an idle stream open. */
export const logHeartbeatMs = 15_000;

function resumeAfter(lastEventId: string | string[] | undefined): Date | undefined {
  if (typeof lastEventId !== 'string') return undefined;
  const time = new Date(lastEventId);
  if (Number.isNaN(time.getTime())) {
    throw new HttpProblem('validation_failed', 'Last-Event-ID is not a log line time', [
      { field: '/headers/last-event-id', message: 'must be the id of an event of this stream' },
    ]);
  }
  // Ids are line times, so the stream resumes with the next millisecond.
  return new Date(time.getTime() + 1);
}

/** A device's log lines: recent ones as JSON, or followed live as Server-Sent Events. */
export const deviceLogRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const store = new PostgresTimeseriesStore(services.database.db);
  // Followers never end on their own; a closing server ends them so it need not wait.
  const following = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const raw of following) raw.end();
  });

  api.get(
    '/v1/devices/:deviceId/logs',
    {
      schema: {
        summary: 'Read or follow a device’s logs',
        description:
          'The newest `limit` lines since `since` (default: the last hour), oldest first. ' +
          'With `follow=true` a `text/event-stream` instead: those lines, then each new one as ' +
          'it arrives (event `log`, id = the line’s time for Last-Event-ID), and a comment ' +
          `every ${logHeartbeatMs / 1000} s.`,
        tags: ['devices'],
        params: DeviceParams,
        querystring: DeviceLogsQuery,
        response: { 200: DeviceLogLines },
      },
    },
    async (request, reply) => {
      const { deviceId } = request.params;
      const { limit, service, follow } = request.query;
      const since =
        resumeAfter(request.headers['last-event-id']) ??
        (request.query.since === undefined
          ? new Date(services.now().getTime() - defaultWindowMs)
          : new Date(request.query.since));
      const backlog = () => readRecentLogs(store, { deviceId, since, limit, service });
      if (!follow) return { items: await backlog() };
      following.add(reply.raw);
      reply.raw.on('close', () => following.delete(reply.raw));
      await streamDeviceLogs(reply, {
        bus: services.bus,
        log: request.log,
        deviceId,
        service,
        backlog,
        heartbeatMs: logHeartbeatMs,
      });
      return reply;
    },
  );
};
