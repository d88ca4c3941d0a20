import type { Db } from '../db/database.js';
import type { PlanDevice } from './plan-rollout-devices.js';

/**
 * A fleet's devices as planning reads them. A running release of another
 * fleet (a device that moved) has no version here: it counts as unknown.
 */
export async function fleetPlanDevices(db: Db, fleetId: string): Promise<PlanDevice[]> {
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
