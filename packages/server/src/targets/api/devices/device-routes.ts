import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Device } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';

const DeviceParams = Type.Object({ deviceId: Type.String() });

const notFound = (): HttpProblem => new HttpProblem('not_found', 'no such device');

/** The device registry as people and automation see it. */
export const deviceRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/v1/devices/:deviceId',
    { schema: { params: DeviceParams, response: { 200: Device } } },
    async (request): Promise<Device> => {
      const row = await services.database.db
        .selectFrom('devices')
        .select([
          'id',
          'name',
          'fleet_id',
          'device_type',
          'architecture',
          'os_version',
          'agent_version',
          'created_at',
          'last_seen_at',
        ])
        .where('id', '=', request.params.deviceId)
        .where('org_id', '=', actingOrg(request))
        .executeTakeFirst();
      if (row === undefined) throw notFound();
      return {
        ...row,
        created_at: row.created_at.toISOString(),
        last_seen_at: row.last_seen_at?.toISOString() ?? null,
      };
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
        if (removed === undefined) throw notFound();
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
