import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DeviceLiveStatus } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { RouteGroup } from '../build-api.js';
import { readDeviceLiveStatus } from './read-device-live-status.js';

const DeviceParams = Type.Object({ deviceId: Type.String() });

/** What a device runs now, from the KV store the ingester keeps current. */
export const deviceStatusRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  // Access control already found the device in the acting org (404 otherwise),
  // so the handler reads only live state.
  api.get(
    '/v1/devices/:deviceId/status',
    {
      schema: {
        summary: 'Get a device’s live status',
        description:
          'Presence, running release, services, update progress and resources as last reported; ' +
          'a device never seen has online false and null fields.',
        tags: ['devices'],
        params: DeviceParams,
        response: { 200: DeviceLiveStatus },
      },
    },
    async (request): Promise<DeviceLiveStatus> => {
      const [status] = await readDeviceLiveStatus({ kv: services.kv, db: services.database.db }, [
        request.params.deviceId,
      ]);
      if (status === undefined) throw new Error('readDeviceLiveStatus returned no status');
      return status;
    },
  );
};
