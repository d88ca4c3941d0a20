import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  type GateEvaluation,
  type RollbackCommandCounts,
  Rollout,
  RolloutDeviceExplanation,
  RolloutDeviceList,
  RolloutDeviceListQuery,
  RolloutDeviceParams,
  RolloutParams,
  cohortBucket,
} from '@flock/protocol';
import { sql } from 'kysely';
import type { Db } from '../../../platform/db/database.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import type { RouteGroup } from '../build-api.js';
import { listPage, pageSize, readCursor } from '../list-page.js';
import { explainRolloutDevice } from './explain-rollout-device.js';
import { rolloutIntentView } from './rollout-intent-view.js';

const recent = 20;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function findRollout(db: Db, rolloutId: string, orgId: string) {
  const row = await db
    .selectFrom('rollouts')
    .selectAll()
    .where('id', '=', rolloutId)
    .where('org_id', '=', orgId)
    .executeTakeFirst();
  if (row === undefined) throw new HttpProblem('not_found', 'no such rollout');
  return row;
}

async function rollbackCommandCounts(db: Db, rolloutId: string): Promise<RollbackCommandCounts> {
  const rows = await db
    .selectFrom('rollout_devices')
    .select([
      sql<boolean>`(rollback_command ->> 'success')::boolean`.as('success'),
      (eb) => eb.fn.countAll<string>().as('count'),
    ])
    .where('rollout_id', '=', rolloutId)
    .where('rollback_command', 'is not', null)
    .groupBy(sql`1`)
    .execute();
  const count = (success: boolean) =>
    Number(rows.find((row) => row.success === success)?.count ?? 0);
  return { succeeded: count(true), failed: count(false) };
}

/** Reading rollouts: state, counts, gate verdicts, and why a device was reached or not. */
export const rolloutReadRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = services.database;

  api.get(
    '/v1/rollouts/:rolloutId',
    { schema: { params: RolloutParams, response: { 200: Rollout } } },
    async (request) => {
      const row = await findRollout(db, request.params.rolloutId, actingOrg(request));
      const [intents, gates, rollbacks] = await Promise.all([
        db
          .selectFrom('rollout_intents')
          .selectAll()
          .where('rollout_id', '=', row.id)
          .orderBy('id', 'desc')
          .limit(recent)
          .execute(),
        db
          .selectFrom('rollout_gate_evaluations')
          .select(['stage', 'evaluated_at', 'verdict', 'inputs', 'reasons'])
          .where('rollout_id', '=', row.id)
          .orderBy('id', 'desc')
          .limit(recent)
          .execute(),
        rollbackCommandCounts(db, row.id),
      ]);
      return {
        id: row.id,
        org_id: row.org_id,
        fleet_id: row.fleet_id,
        deployment_id: row.deployment_id,
        release_id: row.release_id,
        state: row.state,
        reason: row.reason,
        stage: row.stage,
        stage_count: row.stage_count,
        stage_started_at: row.stage_started_at?.toISOString() ?? null,
        awaiting_advance: row.awaiting_advance,
        counts: {
          planned: row.planned,
          targeted: row.targeted,
          downloading: row.downloading,
          installing: row.installing,
          succeeded: row.succeeded,
          failed: row.failed,
          skipped: row.skipped,
          held_back: row.held_back,
        },
        rollback_commands: rollbacks,
        started_at: row.started_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
        ended_at: row.ended_at?.toISOString() ?? null,
        intents: intents.map(rolloutIntentView),
        gate_evaluations: gates.map((gate): GateEvaluation => ({
          stage: gate.stage,
          evaluated_at: gate.evaluated_at.toISOString(),
          verdict: gate.verdict,
          inputs: gate.inputs,
          reasons: gate.reasons,
        })),
      };
    },
  );

  api.get(
    '/v1/rollouts/:rolloutId/devices',
    {
      schema: {
        params: RolloutParams,
        querystring: RolloutDeviceListQuery,
        response: { 200: RolloutDeviceList },
      },
    },
    async (request) => {
      const rollout = await findRollout(db, request.params.rolloutId, actingOrg(request));
      const { cursor, status } = request.query;
      const size = pageSize(request.query.limit);
      let query = db
        .selectFrom('rollout_devices')
        .selectAll()
        .where('rollout_id', '=', rollout.id)
        .orderBy('cohort_bucket')
        .orderBy('device_id')
        .limit(size + 1);
      if (status !== undefined) query = query.where('status', '=', status);
      if (cursor !== undefined) {
        const [bucket, deviceId] = readCursor(cursor, ([bucket, deviceId]) =>
          typeof bucket === 'string' &&
          /^[0-9]{1,4}$/.test(bucket) &&
          typeof deviceId === 'string' &&
          uuid.test(deviceId)
            ? ([Number(bucket), deviceId] as const)
            : undefined,
        );
        query = query.where((eb) =>
          eb.or([
            eb('cohort_bucket', '>', bucket),
            eb.and([eb('cohort_bucket', '=', bucket), eb('device_id', '>', deviceId)]),
          ]),
        );
      }
      return listPage(
        await query.execute(),
        size,
        (row) => [String(row.cohort_bucket), row.device_id],
        (row) => ({
          device_id: row.device_id,
          status: row.status,
          stage: row.stage,
          cohort_bucket: row.cohort_bucket,
          skip_reason: row.skip_reason,
          previous_release_id: row.previous_release_id,
          desired_release_id: row.desired_release_id,
          targeted_at: row.targeted_at?.toISOString() ?? null,
          reported_at: row.reported_at?.toISOString() ?? null,
          error: row.error,
          rollback_command: row.rollback_command,
        }),
      );
    },
  );

  api.get(
    '/v1/rollouts/:rolloutId/devices/:deviceId',
    { schema: { params: RolloutDeviceParams, response: { 200: RolloutDeviceExplanation } } },
    async (request) => {
      const orgId = actingOrg(request);
      const rollout = await findRollout(db, request.params.rolloutId, orgId);
      const device = await db
        .selectFrom('devices')
        .select(['id', 'fleet_id'])
        .where('id', '=', request.params.deviceId)
        .where('org_id', '=', orgId)
        .executeTakeFirst();
      if (device === undefined) throw new HttpProblem('not_found', 'no such device');
      const row = await db
        .selectFrom('rollout_devices')
        .selectAll()
        .where('rollout_id', '=', rollout.id)
        .where('device_id', '=', device.id)
        .executeTakeFirst();
      const bucket = row?.cohort_bucket ?? cohortBucket(device.id);
      const position =
        row === undefined || row.status === 'skipped' || row.status === 'held_back'
          ? null
          : Number(
              (
                await db
                  .selectFrom('rollout_devices')
                  .select((eb) => eb.fn.countAll<string>().as('count'))
                  .where('rollout_id', '=', rollout.id)
                  .where('status', 'not in', ['skipped', 'held_back'])
                  .where((eb) =>
                    eb.or([
                      eb('cohort_bucket', '<', bucket),
                      eb.and([eb('cohort_bucket', '=', bucket), eb('device_id', '<', device.id)]),
                    ]),
                  )
                  .executeTakeFirstOrThrow()
              ).count,
            );
      const deployment = await db
        .selectFrom('deployments')
        .selectAll()
        .where('id', '=', rollout.deployment_id)
        .executeTakeFirstOrThrow();
      return {
        rollout_id: rollout.id,
        device_id: device.id,
        targeted: row?.targeted_at !== undefined && row.targeted_at !== null,
        status: row?.status ?? ('not_matched' as const),
        explanation: explainRolloutDevice({
          rollout,
          deployment,
          device,
          row,
        }),
        skip_reason: row?.skip_reason ?? null,
        stage: row?.stage ?? null,
        cohort_bucket: bucket,
        cohort_position: position,
        previous_release_id: row?.previous_release_id ?? null,
        desired_release_id: row?.desired_release_id ?? null,
        targeted_at: row?.targeted_at?.toISOString() ?? null,
        reported_at: row?.reported_at?.toISOString() ?? null,
        error: row?.error ?? null,
        rollback_command: row?.rollback_command ?? null,
      };
    },
  );
};
