import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Device } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { setEtag } from '../conventions/etag.js';
import { deviceColumns, deviceNotFound, deviceView } from './device-view.js';

const DeviceParams = Type.Object({ deviceId: Type.String() });

/** The device registry as people and automation see it. */
export const deviceRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/v1/devices/:deviceId',
    {
      schema: {
        summary: 'Get a device',
        description:
          'The registry view of a device; the ETag is its revision, for If-Match on updates.',
        params: DeviceParams,
        response: { 200: Device },
      },
    },
    async (request, reply): Promise<Device> => {
      const row = await services.database.db
        .selectFrom('devices')
        .select(deviceColumns)
        .where('id', '=', request.params.deviceId)
        .where('org_id', '=', actingOrg(request))
        .executeTakeFirst();
      if (row === undefined) throw deviceNotFound();
      setEtag(reply, row.revision);
      return deviceView(row, services.now());
    },
  );

  // Deleting the row is the whole revocation: DeviceTokens.verify looks the
  // device up on every request, and the secret's hash goes with the row.
  api.delete(
    '/v1/devices/:deviceId',
    { schema: { params: DeviceParams } },
    async (request, reply) => {
      await auditedTransaction(services, request, async (tx, audit) => {
        const removed = await tx
          .deleteFrom('devices')
          .where('id', '=', request.params.deviceId)
          .where('org_id', '=', actingOrg(request))
          .returning(['id', 'name', 'fleet_id'])
          .executeTakeFirst();
        if (removed === undefined) throw deviceNotFound();
        await audit({
          action: 'device.deregistered',
          resourceType: 'device',
          resourceId: removed.id,
          summary: { name: removed.name, fleet_id: removed.fleet_id },
        });
      });
      return reply.code(204).send();
    },
  );
};
