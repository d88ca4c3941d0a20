/** The part of an audit event that says whose desired state it may change. */
export interface DesiredRelevantEvent {
  action: string;
  resource_id: string;
  summary: Record<string, unknown>;
}

export interface AffectedDevices {
  /** Devices to recompute. */
  devices: Set<string>;
  /** Fleets whose every device to recompute. */
  fleets: Set<string>;
  /** Devices gone: their retained state is cleared. */
  removed: Set<string>;
  /** Rollout assignments: every device a rollout's change `seq` touched. */
  assignments: { rolloutId: string; seq: number }[];
}

const stringOf = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * Whose desired state `events` may have changed. Any other device change
 * (pin, move, registration, quarantine, an update) counts, because a
 * recompute whose content is unchanged publishes nothing; releases are
 * immutable and reach devices only through a pointer that moves.
 */
export function affectedDevices(events: readonly DesiredRelevantEvent[]): AffectedDevices {
  const affected: AffectedDevices = {
    devices: new Set(),
    fleets: new Set(),
    removed: new Set(),
    assignments: [],
  };
  for (const { action, resource_id: resourceId, summary } of events) {
    if (action === 'device.deregistered') {
      affected.devices.delete(resourceId);
      affected.removed.add(resourceId);
    } else if (action.startsWith('device.')) {
      affected.devices.add(resourceId);
    } else if (action === 'fleet.default_release_moved') {
      affected.fleets.add(resourceId);
    } else if (action.startsWith('rollout.')) {
      const rolloutId = stringOf(summary.rollout_id);
      const seq = summary.assignment_seq;
      if (rolloutId !== undefined && typeof seq === 'number')
        affected.assignments.push({ rolloutId, seq });
    } else if (action.startsWith('variable.')) {
      const deviceId = stringOf(summary.device_id);
      const fleetId = stringOf(summary.fleet_id);
      if (deviceId !== undefined) affected.devices.add(deviceId);
      else if (fleetId !== undefined) affected.fleets.add(fleetId);
    }
  }
  return affected;
}
