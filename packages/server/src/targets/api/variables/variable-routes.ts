import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CreateVariableRequest,
  DeviceEnvironment,
  ListQuery,
  UpdateVariableRequest,
  Variable,
  VariableList,
} from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Db } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import type { RouteGroup } from '../build-api.js';
import { expectedRevision, setEtag } from '../conventions/etag.js';
import { composeServices, effectiveVariables } from './effective-environment.js';
import {
  createVariable,
  deleteVariable,
  listVariables,
  updateVariable,
  type VariableScope,
  variableView,
} from './variable-store.js';

const FleetParams = Type.Object({ fleetId: Type.String() });
const DeviceParams = Type.Object({ deviceId: Type.String() });
const VariableParams = Type.Object({ variableId: Type.String() });
const IfMatch = Type.Object({
  'if-match': Type.Optional(
    Type.String({ description: 'The ETag you read ("r<revision>"); refused with 412 if stale' }),
  ),
});
const tags = ['variables'];

async function fleetScope(db: Db, request: FastifyRequest, fleetId: string) {
  const orgId = actingOrg(request);
  const fleet = await db
    .selectFrom('fleets')
    .select('id')
    .where('id', '=', fleetId)
    .where('org_id', '=', orgId)
    .executeTakeFirst();
  if (fleet === undefined) throw new HttpProblem('not_found', 'no such fleet');
  return { orgId, fleetId: fleet.id, deviceId: null } satisfies VariableScope;
}

async function deviceOf(db: Db, request: FastifyRequest, deviceId: string) {
  const device = await db
    .selectFrom('devices')
    .select(['id', 'fleet_id', 'running_release_id'])
    .where('id', '=', deviceId)
    .where('org_id', '=', actingOrg(request))
    .executeTakeFirst();
  if (device === undefined) throw new HttpProblem('not_found', 'no such device');
  return device;
}

/**
 * Environment variables: fleet-wide ones, per-device overrides, each for one
 * service or all, and the environment a device's services end up with.
 * Secret values are sealed at rest and never read back through the API.
 */
export const variableRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = services.database;

  api.get(
    '/v1/fleets/:fleetId/variables',
    {
      schema: {
        summary: "List a fleet's variables",
        tags,
        params: FleetParams,
        querystring: ListQuery,
        response: { 200: VariableList },
      },
    },
    async (request) =>
      listVariables(db, await fleetScope(db, request, request.params.fleetId), request.query),
  );

  api.post(
    '/v1/fleets/:fleetId/variables',
    {
      schema: {
        summary: 'Set a variable for every device of a fleet',
        tags,
        params: FleetParams,
        body: CreateVariableRequest,
        response: { 201: Variable },
      },
    },
    async (request, reply) => {
      const scope = await fleetScope(db, request, request.params.fleetId);
      const row = await createVariable(services, request, scope, request.body);
      setEtag(reply, row.revision);
      return reply.code(201).send(variableView(row));
    },
  );

  api.get(
    '/v1/devices/:deviceId/variables',
    {
      schema: {
        summary: "List a device's own variables (its overrides of the fleet's)",
        tags,
        params: DeviceParams,
        querystring: ListQuery,
        response: { 200: VariableList },
      },
    },
    async (request) => {
      const device = await deviceOf(db, request, request.params.deviceId);
      const scope = { orgId: actingOrg(request), fleetId: device.fleet_id, deviceId: device.id };
      return listVariables(db, scope, request.query);
    },
  );

  api.post(
    '/v1/devices/:deviceId/variables',
    {
      schema: {
        summary: "Override a variable for one device (or set one the fleet doesn't have)",
        tags,
        params: DeviceParams,
        body: CreateVariableRequest,
        response: { 201: Variable },
      },
    },
    async (request, reply) => {
      const device = await deviceOf(db, request, request.params.deviceId);
      const scope = { orgId: actingOrg(request), fleetId: device.fleet_id, deviceId: device.id };
      const row = await createVariable(services, request, scope, request.body);
      setEtag(reply, row.revision);
      return reply.code(201).send(variableView(row));
    },
  );

  api.patch(
    '/v1/variables/:variableId',
    {
      schema: {
        summary: "Change a variable's value or whether it is secret",
        tags,
        params: VariableParams,
        headers: IfMatch,
        body: UpdateVariableRequest,
        response: { 200: Variable },
      },
    },
    async (request, reply) => {
      const expected = expectedRevision(request);
      const { variableId } = request.params;
      const orgId = actingOrg(request);
      const row = await updateVariable(
        services,
        request,
        variableId,
        orgId,
        request.body,
        expected,
      );
      setEtag(reply, row.revision);
      return variableView(row);
    },
  );

  api.delete(
    '/v1/variables/:variableId',
    {
      schema: {
        summary: 'Remove a variable',
        tags,
        params: VariableParams,
        headers: IfMatch,
        response: { 204: Type.Null({ description: 'Removed' }) },
      },
    },
    async (request, reply) => {
      const expected = expectedRevision(request);
      const orgId = actingOrg(request);
      await deleteVariable(services, request, request.params.variableId, orgId, expected);
      return reply.code(204).send(null);
    },
  );

  api.get(
    '/v1/devices/:deviceId/environment',
    {
      schema: {
        summary: "The variables each of a device's services gets, and where each comes from",
        description:
          'Precedence, most specific first: the device for the service, the device for every service, the fleet for the service, the fleet for every service. Services are those of the release the device runs and of the fleet default release, plus any a variable names.',
        tags,
        params: DeviceParams,
        response: { 200: DeviceEnvironment },
      },
    },
    async (request): Promise<DeviceEnvironment> => {
      const orgId = actingOrg(request);
      const device = await deviceOf(db, request, request.params.deviceId);
      const variables = await db
        .selectFrom('variables')
        .select(['id', 'device_id', 'service', 'name', 'value', 'secret'])
        .where('org_id', '=', orgId)
        .where('fleet_id', '=', device.fleet_id)
        .where((eb) => eb.or([eb('device_id', 'is', null), eb('device_id', '=', device.id)]))
        .execute();
      const releases = await db
        .selectFrom('releases')
        .select('compose')
        .where('org_id', '=', orgId)
        .where((eb) =>
          eb.or([
            eb(
              'id',
              '=',
              eb
                .selectFrom('fleets')
                .select('default_release_id')
                .where('id', '=', device.fleet_id),
            ),
            ...(device.running_release_id === null
              ? []
              : [eb('id', '=', device.running_release_id)]),
          ]),
        )
        .execute();
      const named = new Set<string>();
      for (const release of releases)
        for (const name of composeServices(release.compose)) named.add(name);
      for (const variable of variables) if (variable.service !== null) named.add(variable.service);
      const serviceNames: (string | null)[] = [null, ...[...named].sort()];
      return {
        device_id: device.id,
        fleet_id: device.fleet_id,
        services: serviceNames.map((service) => ({
          service,
          variables: effectiveVariables(variables, service),
        })),
      };
    },
  );
};
