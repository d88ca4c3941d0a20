import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  DeploymentParams,
  RolloutIntentAccepted,
  type RolloutIntentAction,
  RolloutParams,
  rolloutControlActions,
} from '@flock/protocol';
import type { FastifyRequest } from 'fastify';
import type { Tx } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { deploymentPlanOf } from '../../../platform/rollouts/deployment-plan-of.js';
import { rolloutOverlaps } from '../../../platform/rollouts/rollout-overlaps.js';
import { actingOrg } from '../acting-org.js';
import { type Audit, auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { deploymentNotFound } from '../deployments/deployment-errors.js';
import { rolloutIntentView } from './rollout-intent-view.js';

const endedStates = new Set(['completed', 'halted', 'frozen', 'rolled_back', 'aborted', 'failed']);

async function recordIntent(
  tx: Tx,
  audit: Audit,
  request: FastifyRequest,
  intent: { deploymentId: string; rolloutId: string; action: RolloutIntentAction },
) {
  const actor = request.auth.actor;
  const row = await tx
    .insertInto('rollout_intents')
    .values({
      org_id: actingOrg(request),
      deployment_id: intent.deploymentId,
      rollout_id: intent.rolloutId,
      action: intent.action,
      actor_type: actor?.type ?? 'anonymous',
      actor_id: actor?.id ?? '-',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await audit({
    action: `rollout.${intent.action}_requested`,
    resourceType: 'rollout',
    resourceId: intent.rolloutId,
    summary: { deployment_id: intent.deploymentId, intent_id: row.id },
  });
  return { rollout_id: intent.rolloutId, intent: rolloutIntentView(row) };
}

/**
 * Starting and steering rollouts. These routes record intents only; the
 * scheduler acts on them and alone writes rollout state
 * (docs/decisions/0505-api-records-intents.md). The API refuses what it can
 * already tell is impossible; the scheduler has the last word, and the
 * intent's outcome shows on the rollout.
 */
export const rolloutControlRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.post(
    '/v1/deployments/:deploymentId/start',
    {
      schema: { params: DeploymentParams, response: { 202: RolloutIntentAccepted } },
    },
    async (request, reply) => {
      const accepted = await auditedTransaction(services, request, async (tx, audit) => {
        const deployment = await tx
          .selectFrom('deployments')
          .selectAll()
          .where('id', '=', request.params.deploymentId)
          .where('org_id', '=', actingOrg(request))
          .forUpdate()
          .executeTakeFirst();
        if (deployment === undefined) throw deploymentNotFound();
        const started = await tx
          .selectFrom('rollout_intents')
          .select('rollout_id')
          .where('deployment_id', '=', deployment.id)
          .where('action', '=', 'start')
          .executeTakeFirst();
        if (started !== undefined)
          throw new HttpProblem(
            'conflict',
            `the deployment was already started as rollout ${started.rollout_id}`,
          );
        const plan = deploymentPlanOf(deployment);
        const overlaps = await rolloutOverlaps(tx, deployment, plan, { pendingStarts: true });
        if (overlaps.length > 0)
          throw new HttpProblem(
            'conflict',
            'the deployment would reach devices of live rollouts; wait for them to end, or abort them',
            overlaps.map((overlap) => ({
              field: '/path/deploymentId',
              message: `overlaps rollout ${overlap.rollout_id} (deployment ${overlap.deployment_id}) on ${overlap.devices} devices, e.g. ${overlap.sample.join(', ')}`,
            })),
          );
        return recordIntent(tx, audit, request, {
          deploymentId: deployment.id,
          rolloutId: randomUUID(),
          action: 'start',
        });
      });
      return reply
        .code(202)
        .header('location', `/v1/rollouts/${accepted.rollout_id}`)
        .send(accepted);
    },
  );

  for (const action of rolloutControlActions) {
    api.post(
      `/v1/rollouts/:rolloutId/${action}`,
      { schema: { params: RolloutParams, response: { 202: RolloutIntentAccepted } } },
      async (request, reply) => {
        const accepted = await auditedTransaction(services, request, async (tx, audit) => {
          const rollout = await tx
            .selectFrom('rollouts')
            .select(['id', 'deployment_id', 'state'])
            .where('id', '=', request.params.rolloutId)
            .where('org_id', '=', actingOrg(request))
            .executeTakeFirst();
          if (rollout === undefined) throw new HttpProblem('not_found', 'no such rollout');
          if (endedStates.has(rollout.state) && action !== 'rollback')
            throw new HttpProblem('conflict', `the rollout already ended (${rollout.state})`);
          return recordIntent(tx, audit, request, {
            deploymentId: rollout.deployment_id,
            rolloutId: rollout.id,
            action,
          });
        });
        return reply.code(202).send(accepted);
      },
    );
  }
};
