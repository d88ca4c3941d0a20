import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Device, deviceUpdateProblems, UpdateDeviceRequest } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { expectedRevision, setEtag, staleRevision } from '../conventions/etag.js';
import { deviceChange } from './device-changes.js';
import { deviceColumns, deviceNotFound, deviceView } from './device-view.js';

const DeviceParams = Type.Object({ deviceId: Type.String() });

/**
 * Registry metadata people and automation set on a device (seed 002: role,
 * segment, branch, update_interval, serial, geolocation, owner, plus labels
 * and attributes that deployments select on).
 */
export const deviceUpdateRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.patch(
    '/v1/devices/:deviceId',
    {
      schema: {
        summary: "Update a device's registry fields",
        description:
          'Sets the fields given; null clears one, and labels and attributes replace the whole map. Honours If-Match with the ETag of GET (412 when stale).',
        params: DeviceParams,
        body: UpdateDeviceRequest,
        response: { 200: Device },
      },
    },
    async (request, reply) => {
      const problems = deviceUpdateProblems(request.body, '/body');
      if (problems.length > 0) {
        throw new HttpProblem('validation_failed', 'the device update is not valid', problems);
      }
      const orgId = actingOrg(request);
      const expected = expectedRevision(request);
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const current = await tx
          .selectFrom('devices')
          .select(deviceColumns)
          .where('id', '=', request.params.deviceId)
          .where('org_id', '=', orgId)
          .forUpdate()
          .executeTakeFirst();
        if (current === undefined) throw deviceNotFound();
        if (expected !== undefined && current.revision !== expected) throw staleRevision();
        const change = deviceChange(current, request.body);
        // Repeating an update is harmless: the revision stays, the log still shows who asked.
        const updated =
          change.fields.length === 0
            ? current
            : await tx
                .updateTable('devices')
                .set((eb) => ({
                  ...change.set,
                  revision: eb('revision', '+', 1),
                  updated_at: services.now(),
                }))
                .where('id', '=', current.id)
                .returning(deviceColumns)
                .executeTakeFirstOrThrow();
        await audit({
          action: 'device.updated',
          resourceType: 'device',
          resourceId: current.id,
          summary: change.summary,
        });
        return updated;
      });
      setEtag(reply, row.revision);
      return deviceView(row, services.now());
    },
  );
};
