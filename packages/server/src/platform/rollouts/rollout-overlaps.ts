import type { Db } from '../db/database.js';
import type { PlanDevice, PlannedDevice } from './plan-rollout-devices.js';
import { planRolloutDevices } from './plan-rollout-devices.js';
import { deploymentPlanOf } from './deployment-plan-of.js';

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
 * the `planned` devices (the plan's, from `planRolloutDevices` over `devices`) would also reach (docs/decisions/0504-overlapping-rollouts.md).
 * With `pendingStarts`, starts recorded but not yet planned count too, their
 * selectors evaluated now: what the API checks before it records a start.
 */
export async function rolloutOverlaps(
  db: Db,
  deployment: { id: string; fleet_id: string },
  devices: readonly PlanDevice[],
  planned: readonly PlannedDevice[],
  options: { pendingStarts: boolean },
): Promise<RolloutOverlap[]> {
  const mine = new Set(
    planned.filter((device) => device.status === 'planned').map((device) => device.id),
  );
  if (mine.size === 0) return [];
  const overlaps: RolloutOverlap[] = [];
  const live = await db
    .selectFrom('rollouts')
    .select(['id', 'deployment_id'])
    .where('fleet_id', '=', deployment.fleet_id)
    .where('ended_at', 'is', null)
    .where('deployment_id', '!=', deployment.id)
    .execute();
  for (const rollout of live) {
    const rows = await db
      .selectFrom('rollout_devices')
      .select(['device_id', 'cohort_bucket'])
      .where('rollout_id', '=', rollout.id)
      .where('status', 'not in', ['skipped', 'held_back'])
      .orderBy('cohort_bucket')
      .orderBy('device_id')
      .execute();
    const shared = rows.map((row) => row.device_id).filter((id) => mine.has(id));
    if (shared.length > 0)
      overlaps.push({
        rollout_id: rollout.id,
        deployment_id: rollout.deployment_id,
        devices: shared.length,
        sample: shared.slice(0, sampleSize),
      });
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
    const shared = planRolloutDevices(devices, deploymentPlanOf(other))
      .filter((device) => device.status === 'planned' && mine.has(device.id))
      .map((device) => device.id);
    if (shared.length > 0)
      overlaps.push({
        rollout_id: other.rollout_id,
        deployment_id: other.id,
        devices: shared.length,
        sample: shared.slice(0, sampleSize),
      });
  }
  return overlaps;
}
