import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CreateFleetRequest, Fleet, FleetList, ListQuery } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { Selectable } from 'kysely';
import type { FleetsTable } from '../../../platform/db/schema.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { setEtag } from '../conventions/etag.js';
import { listPage, pageSize, readCursor } from '../list-page.js';

export function fleetView(row: Selectable<FleetsTable>): Fleet {
  return {
    id: row.id,
    org_id: row.org_id,
    name: row.name,
    device_type: row.device_type,
    architecture: row.architecture,
    default_release_id: row.default_release_id,
    revision: row.revision,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const OrgParams = Type.Object({ orgId: Type.String() });
const FleetParams = Type.Object({ fleetId: Type.String() });

/**
 * Fleets: groups of devices of one type that run the same release. Updates
 * and deletion are in fleet-change-routes.ts.
 */
export const fleetRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database } = services;

  api.post(
    '/v1/orgs/:orgId/fleets',
    { schema: { params: OrgParams, body: CreateFleetRequest, response: { 201: Fleet } } },
    async (request, reply) => {
      const orgId = actingOrg(request);
      const { name, device_type, architecture } = request.body;
      const fleet = await auditedTransaction(services, request, async (tx, audit) => {
        const now = services.now();
        const row = await tx
          .insertInto('fleets')
          .values({
            org_id: orgId,
            name,
            device_type,
            architecture,
            created_at: now,
            updated_at: now,
          })
          .onConflict((conflict) => conflict.columns(['org_id', 'name']).doNothing())
          .returningAll()
          .executeTakeFirst();
        if (row === undefined) {
          throw new HttpProblem('conflict', `this org already has a fleet named ${name}`, [
            { field: '/body/name', message: 'is already taken in this org' },
          ]);
        }
        await audit({
          action: 'fleet.created',
          resourceType: 'fleet',
          resourceId: row.id,
          summary: { name, device_type, architecture },
        });
        return row;
      });
      setEtag(reply, fleet.revision);
      return reply.code(201).header('location', `/v1/fleets/${fleet.id}`).send(fleetView(fleet));
    },
  );

  api.get(
    '/v1/orgs/:orgId/fleets',
    { schema: { params: OrgParams, querystring: ListQuery, response: { 200: FleetList } } },
    async (request) => {
      const { cursor } = request.query;
      const size = pageSize(request.query.limit);
      let query = database.db
        .selectFrom('fleets')
        .selectAll()
        .where('org_id', '=', actingOrg(request))
        .orderBy('name')
        .limit(size + 1);
      if (cursor !== undefined) {
        const after = readCursor(cursor, ([name]) => (typeof name === 'string' ? name : undefined));
        query = query.where('name', '>', after);
      }
      return listPage(await query.execute(), size, (row) => [row.name], fleetView);
    },
  );

  api.get(
    '/v1/fleets/:fleetId',
    {
      schema: {
        description: 'The ETag is the revision, for If-Match on PATCH and DELETE.',
        params: FleetParams,
        response: { 200: Fleet },
      },
    },
    async (request, reply) => {
      const row = await database.db
        .selectFrom('fleets')
        .selectAll()
        .where('id', '=', request.params.fleetId)
        .where('org_id', '=', actingOrg(request))
        .executeTakeFirst();
      if (row === undefined) throw new HttpProblem('not_found', 'no such fleet');
      setEtag(reply, row.revision);
      return fleetView(row);
    },
  );
};
