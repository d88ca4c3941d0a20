import { rolloutStages } from '@flock/protocol';
import type { Selectable } from 'kysely';
import type {
  DeploymentsTable,
  RolloutDevicesTable,
  RolloutsTable,
} from '../../../platform/db/schema.js';
import { deploymentPlanOf } from '../../../platform/rollouts/deployment-plan-of.js';

export interface ExplainInput {
  rollout: Selectable<RolloutsTable>;
  deployment: Selectable<DeploymentsTable>;
  device: { id: string; fleet_id: string };
  row: Selectable<RolloutDevicesTable> | undefined;
}

const skipReasons: Record<string, string> = {
  quarantined: 'it was quarantined (safe mode) when the rollout planned it',
  version_locked: 'it is pinned to a release (version_lock)',
  already_on_release: 'it already ran the release',
  in_no_stage: 'no stage of the strategy reaches it',
};

function rollbackText(row: Selectable<RolloutDevicesTable>, rollbackCommand: string | null) {
  const outcome = row.rollback_command;
  if (outcome === null)
    return rollbackCommand === null ? '' : ' and runs the rollback command, not reported yet';
  const how = outcome.timed_out
    ? 'which timed out'
    : `which exited with ${outcome.exit_code ?? 'no code'}${outcome.success ? '' : ' (failed)'}`;
  return ` and ran the rollback command, ${how}, reported at ${outcome.reported_at}`;
}

/** Why the rollout did or did not reach the device, in one or two sentences. */
export function explainRolloutDevice({ rollout, deployment, device, row }: ExplainInput): string {
  if (row === undefined) {
    return device.fleet_id === rollout.fleet_id
      ? "Not targeted: the deployment's selector did not match the device when the rollout planned or last advanced a stage."
      : "Not targeted: the device is not in the rollout's fleet.";
  }
  const plan = deploymentPlanOf(deployment);
  const stages = rolloutStages(plan.strategy);
  const stageText = (index: number | null) => {
    const stage = index === null ? undefined : stages[index];
    return stage === undefined
      ? 'no stage'
      : `stage ${index} (${stage.percent} %${stage.segments === null ? '' : ` of ${stage.segments.join(', ')}`})`;
  };
  const bucket = `cohort bucket ${row.cohort_bucket} of 10000`;
  switch (row.status) {
    case 'skipped':
      return `Not targeted: skipped because ${skipReasons[row.skip_reason ?? ''] ?? row.skip_reason}.`;
    case 'held_back':
      return `Not targeted: its ${bucket} puts it in the control group that never receives this deployment.`;
    case 'planned':
      return `Not targeted yet: its ${bucket} places it in ${stageText(row.stage)}; the rollout is at stage ${rollout.stage} and ${rollout.state === 'running' ? 'will reach it when that stage begins' : `is ${rollout.state}, so it will not reach it`}.`;
    default: {
      const reached = `Targeted in ${stageText(row.stage)} (${bucket})${row.targeted_at === null ? '' : ` at ${row.targeted_at.toISOString()}`}`;
      const reported =
        row.status === 'targeted'
          ? 'it has not reported on the update yet'
          : `it reported ${row.status}${row.error === null ? '' : `: ${row.error}`}`;
      const reverted =
        rollout.state === 'rolled_back'
          ? `; the rollout was rolled back (${rollout.reason ?? 'no reason given'}), so it now points at ${row.desired_release_id ?? 'no release'}${rollbackText(row, plan.host_command?.rollback_command ?? null)}`
          : '';
      return `${reached}; ${reported}${reverted}.`;
    }
  }
}
