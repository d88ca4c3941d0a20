import {
  type DeploymentPlan,
  type DeploymentPreview,
  type DeviceSample,
  rolloutStages,
} from '@flock/protocol';
import {
  type PlanDevice,
  planRolloutDevices,
} from '../../../platform/rollouts/plan-rollout-devices.js';

function sampler(limit: number) {
  const sample: DeviceSample = { count: 0, device_ids: [] };
  const add = (id: string) => {
    sample.count += 1;
    if (sample.device_ids.length < limit) sample.device_ids.push(id);
  };
  return { sample, add };
}

/**
 * Who a plan would reach, stage by stage, if its rollout started now: the
 * scheduler's own planner (`planRolloutDevices`, which its SQL plan is
 * tested against) over `devices` (one fleet), so the preview and the
 * rollout cannot disagree. Device id lists are in cohort order, at most
 * `limit`.
 */
export function previewDeployment(
  devices: readonly PlanDevice[],
  plan: DeploymentPlan,
  limit: number,
): DeploymentPreview {
  const stages = rolloutStages(plan.strategy);
  const skipped = {
    quarantined: sampler(limit),
    version_locked: sampler(limit),
    already_on_release: sampler(limit),
  };
  const heldBack = sampler(limit);
  const reached = stages.map(() => sampler(limit));
  let targeted = 0;
  let unreached = 0;

  for (const device of planRolloutDevices(devices, plan)) {
    targeted += 1;
    if (device.status === 'held_back') heldBack.add(device.id);
    else if (device.status === 'planned') reached[device.stage]?.add(device.id);
    else if (device.skip_reason === 'in_no_stage') unreached += 1;
    else skipped[device.skip_reason].add(device.id);
  }

  let cumulative = 0;
  const warnings: string[] = [];
  const previewStages = stages.map((stage, index) => {
    const { sample } = reached[index] ?? sampler(0);
    cumulative += sample.count;
    if (sample.count === 0 && targeted > 0) {
      warnings.push(
        `stage ${index} (${stage.percent} %${stage.segments === null ? '' : ` of ${stage.segments.join(', ')}`}) adds no device`,
      );
    }
    return {
      index,
      percent: stage.percent,
      segments: stage.segments === null ? null : [...stage.segments],
      min_wait_seconds: stage.min_wait_seconds,
      advance: stage.advance,
      count: cumulative,
      new_in_stage: sample.count,
      device_ids: sample.device_ids,
    };
  });
  if (targeted === 0) warnings.unshift('the selector matches no device of the fleet');
  if (unreached > 0) warnings.push(`${unreached} eligible devices are in no stage`);

  const skippedCount =
    skipped.quarantined.sample.count +
    skipped.version_locked.sample.count +
    skipped.already_on_release.sample.count;
  return {
    total_in_fleet: devices.length,
    targeted,
    eligible: targeted - skippedCount,
    skipped: {
      quarantined: skipped.quarantined.sample,
      version_locked: skipped.version_locked.sample,
      already_on_release: skipped.already_on_release.sample,
    },
    held_back: heldBack.sample,
    stages: previewStages,
    warnings,
  };
}
