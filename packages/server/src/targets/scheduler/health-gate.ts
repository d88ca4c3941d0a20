import type { HealthCriteria, TelemetryThreshold } from '@flock/protocol';

/** What a gate is judged on; stored with the verdict. */
export interface GateInputs {
  /** Devices the rollout reached so far, every stage up to this one. */
  targeted: number;
  succeeded: number;
  failed: number;
  /** Reached, not yet succeeded or failed, and online now. */
  updating_online: number;
  /** Reached, not yet succeeded or failed, and offline now. */
  updating_offline: number;
  /** Reached devices online now, whatever they reported. */
  online: number;
  /** Seconds since this stage began. */
  stage_age_seconds: number;
  /** Aggregates over the window for each telemetry threshold, keyed by `thresholdKey`; null: no samples. */
  telemetry: Record<string, number | null>;
}

export interface GateVerdict {
  verdict: 'pass' | 'fail' | 'wait';
  reasons: string[];
}

/** The aggregate of the reached devices; for a threshold relative to the holdback, their difference. */
export const thresholdKey = (threshold: TelemetryThreshold): string =>
  threshold.relative_to === 'holdback'
    ? `${sideKey(threshold, 'reached')} - ${sideKey(threshold, 'holdback')}`
    : `${threshold.aggregate}(${threshold.metric})`;

/** One side of a comparison with the holdback, stored beside the difference so a verdict shows both. */
export const sideKey = (threshold: TelemetryThreshold, side: 'reached' | 'holdback'): string =>
  `${threshold.aggregate}(${threshold.metric}) of ${side}`;

const rounded = (value: number): number => Math.round(value * 100) / 100;

const holds = (value: number, op: TelemetryThreshold['op'], limit: number): boolean =>
  op === '<'
    ? value < limit
    : op === '<='
      ? value <= limit
      : op === '>'
        ? value > limit
        : value >= limit;

const percent = (rate: number): string => `${Math.round(rate * 1000) / 10} %`;

/**
 * A stage boundary's health gate (docs/decisions/0502-health-gates.md). It
 * waits while reached devices that are online are still updating inside the
 * evaluation window and until the minimum sample has settled; then it fails
 * on any criterion missed and passes otherwise. After the window, a device
 * still updating counts as not succeeded; an offline one counts as failed
 * only when the criteria say so, and is otherwise left out.
 */
export function evaluateGate(criteria: HealthCriteria, inputs: GateInputs): GateVerdict {
  if (inputs.targeted === 0) return { verdict: 'pass', reasons: ['the stage reached no device'] };
  const windowOver = inputs.stage_age_seconds >= criteria.evaluation_window_seconds;
  const offlineFail = criteria.offline_counts_as_failure === true;
  const failed = inputs.failed + (offlineFail ? inputs.updating_offline : 0);
  const judged = inputs.succeeded + failed + (windowOver ? inputs.updating_online : 0);
  const sample = Math.min(criteria.min_sample_size ?? 1, inputs.targeted);
  const waits: string[] = [];
  if (!windowOver && inputs.updating_online > 0)
    waits.push(`${inputs.updating_online} online devices still updating inside the window`);
  if (inputs.succeeded + failed < sample)
    waits.push(`${inputs.succeeded + failed} of the minimum sample of ${sample} devices reported`);
  if (waits.length > 0) return { verdict: 'wait', reasons: waits };

  const failures: string[] = [];
  const passes: string[] = [];
  if (criteria.min_update_success_rate !== undefined) {
    const rate = judged === 0 ? 1 : inputs.succeeded / judged;
    const line = `update success rate ${percent(rate)} (${inputs.succeeded} of ${judged}), minimum ${percent(criteria.min_update_success_rate)}`;
    (rate < criteria.min_update_success_rate ? failures : passes).push(line);
  }
  if (criteria.min_online_rate !== undefined) {
    const rate = inputs.online / inputs.targeted;
    const line = `online rate ${percent(rate)} (${inputs.online} of ${inputs.targeted}), minimum ${percent(criteria.min_online_rate)}`;
    (rate < criteria.min_online_rate ? failures : passes).push(line);
  }
  for (const threshold of criteria.telemetry_thresholds ?? []) {
    const key = thresholdKey(threshold);
    const value = inputs.telemetry[key];
    if (value === null || value === undefined) {
      passes.push(`${key}: no samples in the window, not judged`);
      continue;
    }
    const sides =
      threshold.relative_to === 'holdback'
        ? ` (reached ${rounded(inputs.telemetry[sideKey(threshold, 'reached')] ?? Number.NaN)}, holdback ${rounded(inputs.telemetry[sideKey(threshold, 'holdback')] ?? Number.NaN)})`
        : '';
    const line = `${key} = ${rounded(value)}${sides}, must be ${threshold.op} ${threshold.value}`;
    (holds(value, threshold.op, threshold.value) ? passes : failures).push(line);
  }
  return failures.length > 0
    ? { verdict: 'fail', reasons: failures }
    : { verdict: 'pass', reasons: passes.length > 0 ? passes : ['no criterion to judge'] };
}
