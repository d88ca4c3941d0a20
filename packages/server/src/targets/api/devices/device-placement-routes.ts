import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Device, MoveDeviceRequest, PinDeviceRequest } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { Tx } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { expectedRevision, setEtag, staleRevision } from '../conventions/etag.js';
import { type DeviceRow, deviceColumns, deviceNotFound, deviceView } from './device-view.js';

const DeviceParams = Type.Object({ deviceId: Type.String() });

const invalid = (field: string, message: string, detail: string): HttpProblem =>
  new HttpProblem('validation_failed', detail, [{ field, message }]);

/** The device row, locked, after the If-Match check. */
async function lockDevice(
  tx: Tx,
  deviceId: string,
  orgId: string,
  expected: number | undefined,
): Promise<DeviceRow> {
  const device = await tx
    .selectFrom('devices')
    .select(deviceColumns)
    .where('id', '=', deviceId)
    .where('org_id', '=', orgId)
    .forUpdate()
    .executeTakeFirst();
  if (device === undefined) throw deviceNotFound();
  if (expected !== undefined && device.revision !== expected) throw staleRevision();
  return device;
}

/**
 * Where a device belongs and what it runs regardless of rollouts: its fleet
 * and its pinned release (version_lock). Each change is an audit event
 * (`device.moved`, `device.pinned`, `device.unpinned`); desired-state
 * publication subscribes to those rather than being called from here.
 * All three honour If-Match and answer the device with its new ETag.
 */
export const devicePlacementRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.post(
    '/v1/devices/:deviceId/move',
    {
      schema: {
        summary: 'Move a device to another fleet',
        description:
          "The fleet must belong to the device's org and have the device's type and architecture. A pin is dropped (it names a release of the old fleet); the device's own variables go with it.",
        params: DeviceParams,
        body: MoveDeviceRequest,
        response: { 200: Device },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const target = request.body.fleet_id.toLowerCase();
      const expected = expectedRevision(request);
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const device = await lockDevice(tx, request.params.deviceId, orgId, expected);
        // Another org's fleet and no fleet at all answer alike: nothing leaks.
        const fleet = await tx
          .selectFrom('fleets')
          .select(['id', 'name', 'device_type', 'architecture'])
          .where('id', '=', target)
          .where('org_id', '=', orgId)
          .forKeyShare()
          .executeTakeFirst();
        if (fleet === undefined) {
          throw invalid('/body/fleet_id', 'is not a fleet of this org', 'no such fleet');
        }
        if (
          fleet.device_type !== device.device_type ||
          fleet.architecture !== device.architecture
        ) {
          throw invalid(
            '/body/fleet_id',
            `is a fleet of ${fleet.device_type} (${fleet.architecture}) devices; this device is ${device.device_type} (${device.architecture})`,
            'a device only joins a fleet of its device type and architecture',
          );
        }
        const changed = fleet.id !== device.fleet_id;
        let moved = device;
        let variables = 0;
        if (changed) {
          moved = await tx
            .updateTable('devices')
            .set((eb) => ({
              fleet_id: fleet.id,
              version_lock: null,
              revision: eb('revision', '+', 1),
              updated_at: services.now(),
            }))
            .where('id', '=', device.id)
            .returning(deviceColumns)
            .executeTakeFirstOrThrow();
          // Device variables are keyed by fleet too; left behind they would vanish.
          const result = await tx
            .updateTable('variables')
            .set({ fleet_id: fleet.id })
            .where('device_id', '=', device.id)
            .executeTakeFirst();
          variables = Number(result.numUpdatedRows);
        }
        await audit({
          action: 'device.moved',
          resourceType: 'device',
          resourceId: device.id,
          summary: {
            from_fleet_id: device.fleet_id,
            to_fleet_id: fleet.id,
            to_fleet_name: fleet.name,
            unpinned_release_id: changed ? device.version_lock : null,
            variables_moved: variables,
            changed,
          },
        });
        return moved;
      });
      setEtag(reply, row.revision);
      return deviceView(row, services.now());
    },
  );

  api.put(
    '/v1/devices/:deviceId/pin',
    {
      schema: {
        summary: 'Pin a device to a release',
        description:
          'Sets version_lock: the device runs this release of its fleet whatever rollouts say. The release must not be archived (unless it already is the pin).',
        params: DeviceParams,
        body: PinDeviceRequest,
        response: { 200: Device },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const releaseId = request.body.release_id.toLowerCase();
      const expected = expectedRevision(request);
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const placed = await tx
          .selectFrom('devices')
          .select('fleet_id')
          .where('id', '=', request.params.deviceId)
          .where('org_id', '=', orgId)
          .executeTakeFirst();
        if (placed === undefined) throw deviceNotFound();
        // The release before the device, in the order deleting a release
        // locks things, so the two never wait on each other in a cycle.
        const release = await tx
          .selectFrom('releases')
          .select(['id', 'fleet_id', 'version', 'archived_at', 'first_deployed_at'])
          .where('id', '=', releaseId)
          .where('fleet_id', '=', placed.fleet_id)
          .forUpdate()
          .executeTakeFirst();
        if (release === undefined) {
          throw invalid(
            '/body/release_id',
            "is not a release of the device's fleet",
            'a device can only be pinned to a release of its fleet',
          );
        }
        const device = await lockDevice(tx, request.params.deviceId, orgId, expected);
        if (device.fleet_id !== release.fleet_id) {
          throw new HttpProblem('conflict', 'the device moved to another fleet meanwhile; retry');
        }
        const changed = device.version_lock !== release.id;
        if (changed && release.archived_at !== null) {
          throw invalid(
            '/body/release_id',
            `release ${release.version} is archived; choose one that is not`,
            'an archived release cannot become a pin',
          );
        }
        const pinned = !changed
          ? device
          : await tx
              .updateTable('devices')
              .set((eb) => ({
                version_lock: release.id,
                revision: eb('revision', '+', 1),
                updated_at: services.now(),
              }))
              .where('id', '=', device.id)
              .returning(deviceColumns)
              .executeTakeFirstOrThrow();
        if (release.first_deployed_at === null) {
          // A device will run it: from now on it is kept for rollbacks, as a fleet default is.
          await tx
            .updateTable('releases')
            .set({ first_deployed_at: services.now() })
            .where('id', '=', release.id)
            .execute();
        }
        await audit({
          action: 'device.pinned',
          resourceType: 'device',
          resourceId: device.id,
          summary: {
            from_release_id: device.version_lock,
            to_release_id: release.id,
            version: release.version,
            changed,
          },
        });
        return pinned;
      });
      setEtag(reply, row.revision);
      return deviceView(row, services.now());
    },
  );

  api.delete(
    '/v1/devices/:deviceId/pin',
    {
      schema: {
        summary: 'Unpin a device',
        description: 'Clears version_lock: rollouts and the fleet default decide again.',
        params: DeviceParams,
        response: { 200: Device },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const expected = expectedRevision(request);
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const device = await lockDevice(tx, request.params.deviceId, orgId, expected);
        const changed = device.version_lock !== null;
        const unpinned = !changed
          ? device
          : await tx
              .updateTable('devices')
              .set((eb) => ({
                version_lock: null,
                revision: eb('revision', '+', 1),
                updated_at: services.now(),
              }))
              .where('id', '=', device.id)
              .returning(deviceColumns)
              .executeTakeFirstOrThrow();
        await audit({
          action: 'device.unpinned',
          resourceType: 'device',
          resourceId: device.id,
          summary: { from_release_id: device.version_lock, changed },
        });
        return unpinned;
      });
      setEtag(reply, row.revision);
      return deviceView(row, services.now());
    },
  );
};
