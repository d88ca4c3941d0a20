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
import type { Db } from '../../../platform/db/database.js';
import { actingOrg } from '../acting-org.js';
import type { RouteGroup } from '../build-api.js';
import { deploymentNotFound, invalidPlan } from './deployment-errors.js';
import { planOf } from './deployment-view.js';
import { planReleaseProblems } from './plan-release-problems.js';
import { type PreviewDevice, previewDeployment } from './preview-deployment.js';

const defaultSampleLimit = 100;

/**
 * The fleet's devices as a preview needs them. A running release of another
 * fleet (a device that moved) has no version here: it counts as unknown.
 */
async function fleetDevices(db: Db, orgId: string, fleetId: string): Promise<PreviewDevice[]> {
  const rows = await db
    .selectFrom('devices')
    .leftJoin('releases', (join) =>
      join
        .onRef('releases.id', '=', 'devices.running_release_id')
        .onRef('releases.fleet_id', '=', 'devices.fleet_id'),
    )
    .select([
      'devices.id',
      'devices.labels',
      'devices.attributes',
      'devices.segment',
      'devices.version_lock',
      'devices.quarantined_at',
      'devices.running_release_id',
      'releases.version as running_version',
    ])
    .where('devices.fleet_id', '=', fleetId)
    .where('devices.org_id', '=', orgId)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    labels: row.labels,
    attributes: row.attributes,
    segment: row.segment,
    running_version: row.running_version,
    version_lock: row.version_lock,
    quarantined: row.quarantined_at !== null,
    running_release_id: row.running_release_id,
  }));
}

/**
 * Dry runs: who a plan would reach, stage by stage, against the fleet as it
 * is now. Nothing is written, so they record no audit event.
 */
export const deploymentPreviewRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = services.database;

  const preview = async (orgId: string, fleetId: string, plan: DeploymentPlan, limit?: number) =>
    previewDeployment(await fleetDevices(db, orgId, fleetId), plan, limit ?? defaultSampleLimit);

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
