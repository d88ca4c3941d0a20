import type { DeploymentPlan } from '@flock/protocol';
import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../db/database.js';
import { deploymentPlanOf } from './deployment-plan-of.js';
import { planQuery } from './plan-query.js';

/** Another live rollout that would reach some of the same devices. */
export interface RolloutOverlap {
  /** For a start recorded but not yet planned, the id its rollout will have. */
  rollout_id: string;
  deployment_id: string;
  devices: number;
  /** The first few shared devices, in cohort order. */
  sample: string[];
}

const sampleSize = 5;

/**
 * The live rollouts of the fleet whose devices (reached or still planned)
 * `plan` would also reach (docs/decisions/0504-overlapping-rollouts.md),
 * each counted in the database. With `pendingStarts`, starts recorded but
 * not yet planned count too, their plans evaluated now: what the API checks
 * before it records a start.
 */
export async function rolloutOverlaps(
  db: Db,
  deployment: { id: string; fleet_id: string },
  plan: DeploymentPlan,
  options: { pendingStarts: boolean },
): Promise<RolloutOverlap[]> {
  const mine = sql`select device_id, cohort_bucket from (${planQuery(deployment.fleet_id, plan)}) as mine
    where status = 'planned'`;
  const overlaps: RolloutOverlap[] = [];
  const live = await db
    .selectFrom('rollouts')
    .select(['id', 'deployment_id'])
    .where('fleet_id', '=', deployment.fleet_id)
    .where('ended_at', 'is', null)
    .where('deployment_id', '!=', deployment.id)
    .execute();
  for (const rollout of live) {
    const theirs = sql`select device_id from rollout_devices
      where rollout_id = ${rollout.id} and status not in ('skipped', 'held_back')`;
    const shared = await sharedDevices(db, mine, theirs);
    if (shared !== undefined)
      overlaps.push({ rollout_id: rollout.id, deployment_id: rollout.deployment_id, ...shared });
  }
  if (!options.pendingStarts) return overlaps;
  const pending = await db
    .selectFrom('rollout_intents')
    .innerJoin('deployments', 'deployments.id', 'rollout_intents.deployment_id')
    .selectAll('deployments')
    .select('rollout_intents.rollout_id')
    .where('rollout_intents.action', '=', 'start')
    .where('rollout_intents.processed_at', 'is', null)
    .where('deployments.fleet_id', '=', deployment.fleet_id)
    .where('deployments.id', '!=', deployment.id)
    .execute();
  for (const other of pending) {
    const theirs = sql`select device_id from (${planQuery(other.fleet_id, deploymentPlanOf(other))}) as theirs
      where status = 'planned'`;
    const shared = await sharedDevices(db, mine, theirs);
    if (shared !== undefined)
      overlaps.push({ rollout_id: other.rollout_id, deployment_id: other.id, ...shared });
  }
  return overlaps;
}

async function sharedDevices(
  db: Db,
  mine: RawBuilder<unknown>,
  theirs: RawBuilder<unknown>,
): Promise<{ devices: number; sample: string[] } | undefined> {
  const { rows } = await sql<{ device_id: string; shared: string }>`
    select mine.device_id, count(*) over () as shared
    from (${mine}) as mine join (${theirs}) as theirs on theirs.device_id = mine.device_id
    order by mine.cohort_bucket, mine.device_id
    limit ${sampleSize}`.execute(db);
  const first = rows[0];
  if (first === undefined) return undefined;
  return { devices: Number(first.shared), sample: rows.map((row) => row.device_id) };
}
