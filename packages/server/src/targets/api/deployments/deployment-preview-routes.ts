import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  DeploymentParams,
  type DeploymentPlan,
  DeploymentPreview,
  DeploymentPreviewQuery,
  FleetDeploymentParams,
  PreviewDeploymentRequest,
  checkDeploymentPlan,
} from '@flock/protocol';
import { actingOrg } from '../acting-org.js';
import type { RouteGroup } from '../build-api.js';
import { deploymentNotFound, invalidPlan } from './deployment-errors.js';
import { planOf } from './deployment-view.js';
import { planReleaseProblems } from './plan-release-problems.js';
import { fleetPlanDevices } from '../../../platform/rollouts/fleet-plan-devices.js';
import { previewDeployment } from './preview-deployment.js';

const defaultSampleLimit = 100;

/**
 * Dry runs: who a plan would reach, stage by stage, against the fleet as it
 * is now. Nothing is written, so they record no audit event.
 */
export const deploymentPreviewRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = services.database;

  const preview = async (orgId: string, fleetId: string, plan: DeploymentPlan, limit?: number) =>
    previewDeployment(await fleetPlanDevices(db, fleetId), plan, limit ?? defaultSampleLimit);

  api.post(
    '/v1/fleets/:fleetId/deployments/preview',
    {
      schema: {
        params: FleetDeploymentParams,
        querystring: DeploymentPreviewQuery,
        body: PreviewDeploymentRequest,
        response: { 200: DeploymentPreview },
      },
    },
    async (request) => {
      const { name: _name, ...input } = request.body;
      const checked = checkDeploymentPlan(input, '/body');
      if (!checked.ok) throw invalidPlan(checked.problems);
      const { fleetId } = request.params;
      const problems = await planReleaseProblems(db, fleetId, checked.plan, '/body');
      if (problems.length > 0) throw invalidPlan(problems);
      return preview(actingOrg(request), fleetId, checked.plan, request.query.limit);
    },
  );

  api.post(
    '/v1/deployments/:deploymentId/preview',
    {
      schema: {
        params: DeploymentParams,
        querystring: DeploymentPreviewQuery,
        response: { 200: DeploymentPreview },
      },
    },
    async (request) => {
      const orgId = actingOrg(request);
      const row = await db
        .selectFrom('deployments')
        .selectAll()
        .where('id', '=', request.params.deploymentId)
        .where('org_id', '=', orgId)
        .executeTakeFirst();
      if (row === undefined) throw deploymentNotFound();
      return preview(orgId, row.fleet_id, planOf(row), request.query.limit);
    },
  );
};
