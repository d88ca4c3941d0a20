import type { Device, DeviceStatus } from '@flock/protocol';
import type { Selectable } from 'kysely';
import type { DevicesTable } from '../../../platform/db/schema.js';
import { HttpProblem } from '../../../platform/http/problem.js';

/** What the registry shows of a device row: everything but its secret. */
export const deviceColumns = [
  'id',
  'org_id',
  'fleet_id',
  'name',
  'device_type',
  'architecture',
  'labels',
  'attributes',
  'role',
  'segment',
  'branch',
  'update_interval',
  'version_lock',
  'serial',
  'geolocation',
  'owner',
  'os_version',
  'agent_version',
  'running_release_id',
  'quarantined_at',
  'created_at',
  'updated_at',
  'last_seen_at',
  'revision',
] as const satisfies readonly (keyof DevicesTable)[];

export type DeviceRow = Pick<Selectable<DevicesTable>, (typeof deviceColumns)[number]>;

/** The shortest time a device counts as online after it was last seen. */
export const minOnlineWindowSeconds = 300;

/**
 * How long after it was last seen a device still counts as online: two of
 * its poll intervals, and never less than five minutes, so one late poll does
 * not flap it offline. Stands in for live state (docs/decisions/0263).
 */
export function onlineWindowSeconds(updateInterval: number | null): number {
  return Math.max(2 * (updateInterval ?? 0), minOnlineWindowSeconds);
}

export function deviceStatus(
  row: Pick<DeviceRow, 'quarantined_at' | 'last_seen_at' | 'update_interval'>,
  now: Date,
): DeviceStatus {
  if (row.quarantined_at !== null) return 'quarantined';
  if (row.last_seen_at === null) return 'offline';
  const age = now.getTime() - row.last_seen_at.getTime();
  return age <= onlineWindowSeconds(row.update_interval) * 1000 ? 'online' : 'offline';
}

export function deviceView(row: DeviceRow, now: Date): Device {
  return {
    id: row.id,
    org_id: row.org_id,
    fleet_id: row.fleet_id,
    name: row.name,
    device_type: row.device_type,
    architecture: row.architecture,
    labels: row.labels,
    attributes: row.attributes,
    role: row.role,
    segment: row.segment,
    branch: row.branch,
    update_interval: row.update_interval,
    version_lock: row.version_lock,
    serial: row.serial,
    geolocation: row.geolocation,
    owner: row.owner,
    os_version: row.os_version,
    agent_version: row.agent_version,
    running_release_id: row.running_release_id,
    quarantined: row.quarantined_at !== null,
    status: deviceStatus(row, now),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    last_seen_at: row.last_seen_at?.toISOString() ?? null,
    revision: row.revision,
  };
}

export function deviceNotFound(): HttpProblem {
  return new HttpProblem('not_found', 'no such device');
}
