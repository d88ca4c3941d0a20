import type { RollbackPolicy } from '@flock/protocol';

export interface FailureCounts {
  targeted: number;
  failed: number;
}

/**
 * Whether the failures so far cross the policy's trigger, and why. The rate
 * is over every device reached, settled or not, so one early failure among
 * a hundred devices still updating does not stop a rollout, and the
 * decision never has to be taken back (docs/decisions/0503-failure-policy.md).
 */
export function failureTrigger(policy: RollbackPolicy, counts: FailureCounts): string | undefined {
  if (counts.targeted === 0 || counts.failed === 0) return undefined;
  const rate = counts.failed / counts.targeted;
  if (rate < policy.trigger_failure_rate) return undefined;
  const shown = (value: number) => `${Math.round(value * 1000) / 10} %`;
  return `${counts.failed} of ${counts.targeted} reached devices failed (${shown(rate)}), at or above the trigger of ${shown(policy.trigger_failure_rate)}`;
}
