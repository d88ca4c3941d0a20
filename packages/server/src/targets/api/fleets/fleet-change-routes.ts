import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type FieldError, Fleet, UpdateFleetRequest } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { Tx } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { expectedRevision, setEtag, staleRevision } from '../conventions/etag.js';
import { fleetView } from './fleet-routes.js';

const FleetParams = Type.Object({ fleetId: Type.String() });

const fleetNotFound = (): HttpProblem => new HttpProblem('not_found', 'no such fleet');

function hasCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}

/** The fleet row, locked against updates, registrations and moves in, after the If-Match check. */
async function lockFleet(tx: Tx, fleetId: string, orgId: string, expected: number | undefined) {
  const fleet = await tx
    .selectFrom('fleets')
    .selectAll()
    .where('id', '=', fleetId)
    .where('org_id', '=', orgId)
    .forUpdate()
    .executeTakeFirst();
  if (fleet === undefined) throw fleetNotFound();
  if (expected !== undefined && fleet.revision !== expected) throw staleRevision();
  return fleet;
}

async function deviceCount(tx: Tx, fleetId: string): Promise<number> {
  const row = await tx
    .selectFrom('devices')
    .select(tx.fn.countAll<string>().as('count'))
    .where('fleet_id', '=', fleetId)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

const devicesRemain = (count: number): string =>
  `${count} device${count === 1 ? '' : 's'} remain${count === 1 ? 's' : ''} in the fleet; move them to another fleet (POST /v1/devices/{id}/move) or deregister them first`;

/**
 * Renaming a fleet, changing what devices it is for, and deleting it. Both
 * the kind change and the deletion wait until the fleet has no devices
 * (docs/decisions/0260); the fleet lock makes registrations and moves into
 * it wait meanwhile.
 */
export const fleetChangeRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.patch(
    '/v1/fleets/:fleetId',
    {
      schema: {
        summary: 'Rename a fleet or change its device type or architecture',
        description:
          'device_type and architecture can change only while the fleet has no devices (409 otherwise). Honours If-Match with the ETag of GET (412 when stale).',
        params: FleetParams,
        body: UpdateFleetRequest,
        response: { 200: Fleet },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const expected = expectedRevision(request);
      const { name, device_type, architecture } = request.body;
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const fleet = await lockFleet(tx, request.params.fleetId, orgId, expected);
        const to = {
          name: name ?? fleet.name,
          device_type: device_type ?? fleet.device_type,
          architecture: architecture ?? fleet.architecture,
        };
        const fields = (['name', 'device_type', 'architecture'] as const).filter(
          (field) => to[field] !== fleet[field],
        );
        const kindChanges = fields.filter((field) => field !== 'name');
        if (kindChanges.length > 0) {
          const count = await deviceCount(tx, fleet.id);
          if (count > 0) {
            const errors: FieldError[] = kindChanges.map((field) => ({
              field: `/body/${field}`,
              message: `cannot change while the fleet has devices (${count})`,
            }));
            throw new HttpProblem(
              'conflict',
              `the fleet's ${kindChanges.join(' and ')} cannot change: ${devicesRemain(count)}`,
              errors,
            );
          }
        }
        const taken = (): HttpProblem =>
          new HttpProblem('conflict', `this org already has a fleet named ${to.name}`, [
            { field: '/body/name', message: 'is already taken in this org' },
          ]);
        let updated = fleet;
        if (fields.length > 0) {
          try {
            updated = await tx
              .updateTable('fleets')
              .set((eb) => ({
                ...to,
                revision: eb('revision', '+', 1),
                updated_at: services.now(),
              }))
              .where('id', '=', fleet.id)
              .returningAll()
              .executeTakeFirstOrThrow();
          } catch (error) {
            if (hasCode(error, '23505')) throw taken();
            throw error;
          }
        }
        await audit({
          action: 'fleet.updated',
          resourceType: 'fleet',
          resourceId: fleet.id,
          summary: {
            fields,
            ...Object.fromEntries(
              fields.map((field) => [field, { from: fleet[field], to: to[field] }]),
            ),
          },
        });
        return updated;
      });
      setEtag(reply, row.revision);
      return fleetView(row);
    },
  );

  api.delete(
    '/v1/fleets/:fleetId',
    {
      schema: {
        summary: 'Delete a fleet without devices',
        description:
          'Refused (409) while any device is in the fleet. Its releases, deployments, provisioning keys and variables are deleted with it. Honours If-Match.',
        params: FleetParams,
        response: { 204: Type.Null({ description: 'Deleted' }) },
      },
    },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const expected = expectedRevision(request);
      await auditedTransaction(services, request, async (tx, audit) => {
        const fleet = await lockFleet(tx, request.params.fleetId, orgId, expected);
        const count = await deviceCount(tx, fleet.id);
        if (count > 0) {
          throw new HttpProblem(
            'conflict',
            `fleet ${fleet.name} cannot be deleted: ${devicesRemain(count)}`,
          );
        }
        const removed = await deleteContents(tx, fleet.id).catch((error: unknown) => {
          // A device of another fleet pinned to one of these releases, by a path that did not check.
          if (hasCode(error, '23503')) {
            throw new HttpProblem(
              'conflict',
              `fleet ${fleet.name} cannot be deleted: another fleet's device refers to one of its releases`,
            );
          }
          throw error;
        });
        await audit({
          action: 'fleet.deleted',
          resourceType: 'fleet',
          resourceId: fleet.id,
          summary: {
            name: fleet.name,
            device_type: fleet.device_type,
            architecture: fleet.architecture,
            ...removed,
          },
        });
      });
      return reply.code(204).send(null);
    },
  );
};

/**
 * Deletes what belongs to a fleet, then the fleet. One by one rather than by
 * cascade so the audit event can say what went with it; the default pointer
 * is cleared first because it restricts deleting its release.
 */
async function deleteContents(tx: Tx, fleetId: string) {
  const count = (result: { numDeletedRows: bigint }): number => Number(result.numDeletedRows);
  const deployments = await tx
    .deleteFrom('deployments')
    .where('fleet_id', '=', fleetId)
    .executeTakeFirst();
  const variables = await tx
    .deleteFrom('variables')
    .where('fleet_id', '=', fleetId)
    .executeTakeFirst();
  const keys = await tx
    .deleteFrom('provisioning_keys')
    .where('fleet_id', '=', fleetId)
    .executeTakeFirst();
  await tx
    .updateTable('fleets')
    .set({ default_release_id: null })
    .where('id', '=', fleetId)
    .execute();
  const releases = await tx
    .deleteFrom('releases')
    .where('fleet_id', '=', fleetId)
    .executeTakeFirst();
  await tx.deleteFrom('fleets').where('id', '=', fleetId).execute();
  return {
    releases: count(releases),
    deployments: count(deployments),
    provisioning_keys: count(keys),
    variables: count(variables),
  };
}
