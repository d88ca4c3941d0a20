import {
  type DeploymentPlan,
  type DeploymentPreview,
  type DeviceSample,
  type SelectableDevice,
  compileSelector,
  rolloutStages,
  sortByCohort,
  stagePlacer,
} from '@flock/protocol';

/** What a preview reads of a device: the selector's view plus what may skip it. */
export interface PreviewDevice extends SelectableDevice {
  id: string;
  version_lock: string | null;
  quarantined: boolean;
  running_release_id: string | null;
}

type SkipReason = keyof DeploymentPreview['skipped'];

function sampler(limit: number) {
  const sample: DeviceSample = { count: 0, device_ids: [] };
  const add = (id: string) => {
    sample.count += 1;
    if (sample.device_ids.length < limit) sample.device_ids.push(id);
  };
  return { sample, add };
}

function skipReason(device: PreviewDevice, plan: DeploymentPlan): SkipReason | undefined {
  if (device.quarantined) return 'quarantined';
  if (plan.release_id === null) return undefined;
  if (device.version_lock !== null) return 'version_locked';
  if (device.running_release_id === plan.release_id) return 'already_on_release';
  return undefined;
}

/**
 * Who a plan would reach, stage by stage, if its rollout started now: the
 * same selector, skip rules and stable cohorts the scheduler uses, over
 * `devices` (one fleet). Device id lists are in cohort order, at most `limit`.
 */
export function previewDeployment(
  devices: readonly PreviewDevice[],
  plan: DeploymentPlan,
  limit: number,
): DeploymentPreview {
  const matches = compileSelector(plan.selector);
  const stages = rolloutStages(plan.strategy);
  const place = stagePlacer(stages, plan.strategy.holdback_percent ?? 0);
  const skipped = {
    quarantined: sampler(limit),
    version_locked: sampler(limit),
    already_on_release: sampler(limit),
  };
  const heldBack = sampler(limit);
  const reached = stages.map(() => sampler(limit));
  let targeted = 0;
  let unreached = 0;

  for (const device of sortByCohort(devices, (candidate) => candidate.id)) {
    if (!matches(device)) continue;
    targeted += 1;
    const reason = skipReason(device, plan);
    if (reason !== undefined) {
      skipped[reason].add(device.id);
      continue;
    }
    const placement = place(device);
    if (placement === 'held_back') heldBack.add(device.id);
    else if (placement === 'unreached') unreached += 1;
    else reached[placement]?.add(device.id);
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
