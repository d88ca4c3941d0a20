import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  Deployment,
  DeploymentParams,
  type DeploymentPlanInput,
  UpdateDeploymentRequest,
  checkDeploymentPlan,
} from '@flock/protocol';
import type { FastifyRequest } from 'fastify';
import type { Tx } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { expectedRevision, setEtag, staleRevision } from '../conventions/etag.js';
import { deploymentNotFound, invalidPlan } from './deployment-errors.js';
import { type DeploymentRow, deploymentView, planColumns, planOf } from './deployment-view.js';
import { planReleaseProblems } from './plan-release-problems.js';

const planFields = [
  'release_id',
  'selector',
  'strategy',
  'health',
  'rollback',
  'host_command',
] as const;

/**
 * The deployment a change applies to, locked until the change commits, so
 * the scheduler cannot start it half way through an edit. Refuses one whose
 * rollout started (409) or whose revision is not the caller's If-Match (412).
 */
async function lockForChange(
  tx: Tx,
  request: FastifyRequest,
  deploymentId: string,
): Promise<DeploymentRow> {
  const expected = expectedRevision(request);
  const row = await tx
    .selectFrom('deployments')
    .selectAll()
    .where('id', '=', deploymentId)
    .where('org_id', '=', actingOrg(request))
    .forUpdate()
    .executeTakeFirst();
  if (row === undefined) throw deploymentNotFound();
  if (row.started_at !== null) {
    throw new HttpProblem(
      'conflict',
      `its rollout started at ${row.started_at.toISOString()}, which fixes the plan; create a new deployment instead`,
    );
  }
  const start = await tx
    .selectFrom('rollout_intents')
    .select('created_at')
    .where('deployment_id', '=', deploymentId)
    .where('action', '=', 'start')
    .executeTakeFirst();
  if (start !== undefined) {
    throw new HttpProblem(
      'conflict',
      `its rollout was started at ${start.created_at.toISOString()}, which fixes the plan; create a new deployment instead`,
    );
  }
  if (expected !== undefined && expected !== row.revision) throw staleRevision();
  return row;
}

/** Editing and deleting deployment plans, both only before their rollout starts. */
export const deploymentChangeRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.patch(
    '/v1/deployments/:deploymentId',
    {
      schema: {
        params: DeploymentParams,
        body: UpdateDeploymentRequest,
        response: { 200: Deployment },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const row = await auditedTransaction(services, request, async (tx, audit) => {
        const current = await lockForChange(tx, request, request.params.deploymentId);
        const input: DeploymentPlanInput = { ...planOf(current) };
        for (const field of planFields) {
          if (body[field] !== undefined) Object.assign(input, { [field]: body[field] });
        }
        const checked = checkDeploymentPlan(input, '/body');
        if (!checked.ok) throw invalidPlan(checked.problems);
        const problems = await planReleaseProblems(tx, current.fleet_id, checked.plan, '/body');
        if (problems.length > 0) throw invalidPlan(problems);
        const updated = await tx
          .updateTable('deployments')
          .set({
            ...(body.name === undefined ? {} : { name: body.name }),
            ...planColumns(checked.plan),
            revision: current.revision + 1,
            updated_at: services.now(),
          })
          .where('id', '=', current.id)
          .where('revision', '=', current.revision)
          .returningAll()
          .executeTakeFirst();
        if (updated === undefined) throw staleRevision();
        await audit({
          action: 'deployment.updated',
          resourceType: 'deployment',
          resourceId: updated.id,
          summary: {
            name: updated.name,
            changed: Object.keys(body).sort(),
            revision: updated.revision,
          },
        });
        return updated;
      });
      setEtag(reply, row.revision);
      return deploymentView(row);
    },
  );

  api.delete(
    '/v1/deployments/:deploymentId',
    { schema: { params: DeploymentParams } },
    async (request, reply) => {
      await auditedTransaction(services, request, async (tx, audit) => {
        const current = await lockForChange(tx, request, request.params.deploymentId);
        await tx.deleteFrom('deployments').where('id', '=', current.id).execute();
        await audit({
          action: 'deployment.deleted',
          resourceType: 'deployment',
          resourceId: current.id,
          summary: { name: current.name, fleet_id: current.fleet_id, revision: current.revision },
        });
      });
      return reply.code(204).send();
    },
  );
};
