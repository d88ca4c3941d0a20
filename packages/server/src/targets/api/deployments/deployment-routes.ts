import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CreateDeploymentRequest,
  Deployment,
  DeploymentList,
  DeploymentParams,
  FleetDeploymentParams,
  ListQuery,
  checkDeploymentPlan,
} from '@flock/protocol';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { setEtag } from '../conventions/etag.js';
import { listPage, pageSize, readCursor } from '../list-page.js';
import { deploymentNotFound, invalidPlan } from './deployment-errors.js';
import { deploymentView, planColumns } from './deployment-view.js';
import { planReleaseProblems } from './plan-release-problems.js';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Deployments: plans of what to roll out to which devices, how, and when to
 * stop. Writing one changes no device; the scheduler executes it as a
 * rollout and sets `started_at`, after which the plan is fixed. Changes
 * and previews are in their own groups.
 */
export const deploymentRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { database } = services;

  api.post(
    '/v1/fleets/:fleetId/deployments',
    {
      schema: {
        params: FleetDeploymentParams,
        body: CreateDeploymentRequest,
        response: { 201: Deployment },
      },
    },
    async (request, reply) => {
      const { fleetId } = request.params;
      const { name, ...input } = request.body;
      const checked = checkDeploymentPlan(input, '/body');
      if (!checked.ok) throw invalidPlan(checked.problems);
      const { plan } = checked;
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const problems = await planReleaseProblems(tx, fleetId, plan, '/body');
        if (problems.length > 0) throw invalidPlan(problems);
        const actor = request.auth.actor;
        const now = services.now();
        const created = await tx
          .insertInto('deployments')
          .values({
            org_id: actingOrg(request),
            fleet_id: fleetId,
            name,
            ...planColumns(plan),
            created_by_type: actor?.type ?? 'anonymous',
            created_by_id: actor?.id ?? '-',
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit({
          action: 'deployment.created',
          resourceType: 'deployment',
          resourceId: created.id,
          // Host commands may embed credentials: the summary says only that there is one.
          summary: {
            name,
            fleet_id: fleetId,
            release_id: plan.release_id,
            strategy: plan.strategy.type,
            host_command: plan.host_command !== null,
          },
        });
        return created;
      });
      setEtag(reply, row.revision);
      return reply
        .code(201)
        .header('location', `/v1/deployments/${row.id}`)
        .send(deploymentView(row));
    },
  );

  api.get(
    '/v1/fleets/:fleetId/deployments',
    {
      schema: {
        params: FleetDeploymentParams,
        querystring: ListQuery,
        response: { 200: DeploymentList },
      },
    },
    async (request) => {
      const { cursor } = request.query;
      const size = pageSize(request.query.limit);
      let query = database.db
        .selectFrom('deployments')
        .selectAll()
        .where('fleet_id', '=', request.params.fleetId)
        .where('org_id', '=', actingOrg(request))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(size + 1);
      if (cursor !== undefined) {
        const [createdAt, id] = readCursor(cursor, ([time, last]) =>
          typeof time === 'string' &&
          !Number.isNaN(Date.parse(time)) &&
          typeof last === 'string' &&
          uuidPattern.test(last)
            ? ([new Date(time), last] as const)
            : undefined,
        );
        query = query.where((eb) =>
          eb.or([
            eb('created_at', '<', createdAt),
            eb.and([eb('created_at', '=', createdAt), eb('id', '<', id)]),
          ]),
        );
      }
      // Newest first: the plan people are working on is usually the latest.
      return listPage(
        await query.execute(),
        size,
        (row) => [row.created_at.toISOString(), row.id],
        deploymentView,
      );
    },
  );

  api.get(
    '/v1/deployments/:deploymentId',
    { schema: { params: DeploymentParams, response: { 200: Deployment } } },
    async (request, reply) => {
      const row = await database.db
        .selectFrom('deployments')
        .selectAll()
        .where('id', '=', request.params.deploymentId)
        .where('org_id', '=', actingOrg(request))
        .executeTakeFirst();
      if (row === undefined) throw deploymentNotFound();
      setEtag(reply, row.revision);
      return deploymentView(row);
    },
  );
};
