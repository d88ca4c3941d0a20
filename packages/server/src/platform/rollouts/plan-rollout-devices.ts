import {
  type DeploymentPlan,
  type SelectableDevice,
  cohortBucket,
  compileSelector,
  rolloutStages,
  stagePlacer,
} from '@flock/protocol';

/** What planning reads of a device: the selector's view plus what may skip it. */
export interface PlanDevice extends SelectableDevice {
  id: string;
  version_lock: string | null;
  quarantined: boolean;
  running_release_id: string | null;
}

export type SkipReason = 'quarantined' | 'version_locked' | 'already_on_release' | 'in_no_stage';

/** A device the selector matched, and where the rollout puts it. */
export type PlannedDevice =
  | { id: string; bucket: number; status: 'planned'; stage: number; skip_reason: null }
  | { id: string; bucket: number; status: 'held_back'; stage: null; skip_reason: null }
  | { id: string; bucket: number; status: 'skipped'; stage: null; skip_reason: SkipReason };

/**
 * Every device of `devices` the plan's selector matches, in cohort order,
 * with its stage or why it is left out (quarantined, then pinned, then
 * already on the release). The deployment preview is built from it, and the
 * scheduler's set-based plan (`planQuery`) is tested to agree with it, so
 * what the preview promised is what the rollout does.
 */
export function planRolloutDevices(
  devices: readonly PlanDevice[],
  plan: DeploymentPlan,
): PlannedDevice[] {
  const matches = compileSelector(plan.selector);
  const place = stagePlacer(rolloutStages(plan.strategy), plan.strategy.holdback_percent ?? 0);
  const planned: PlannedDevice[] = [];
  for (const device of devices) {
    if (!matches(device)) continue;
    const bucket = cohortBucket(device.id);
    const reason = skipReason(device, plan);
    if (reason !== undefined) {
      planned.push({ id: device.id, bucket, status: 'skipped', stage: null, skip_reason: reason });
      continue;
    }
    const placement = place(device);
    if (placement === 'held_back')
      planned.push({ id: device.id, bucket, status: 'held_back', stage: null, skip_reason: null });
    else if (placement === 'unreached')
      planned.push({
        id: device.id,
        bucket,
        status: 'skipped',
        stage: null,
        skip_reason: 'in_no_stage',
      });
    else
      planned.push({
        id: device.id,
        bucket,
        status: 'planned',
        stage: placement,
        skip_reason: null,
      });
  }
  return planned.sort((a, b) => a.bucket - b.bucket || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function skipReason(device: PlanDevice, plan: DeploymentPlan): SkipReason | undefined {
  if (device.quarantined) return 'quarantined';
  if (plan.release_id === null) return undefined;
  if (device.version_lock !== null) return 'version_locked';
  if (device.running_release_id === plan.release_id) return 'already_on_release';
  return undefined;
}
