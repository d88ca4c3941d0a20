import type { DeploymentStrategy } from '../api/deployment-plan.js';
import { cohortBucket, cohortBuckets, cohortThreshold } from '../cohort.js';

/** One stage of a rollout, whatever strategy it came from. */
export interface RolloutStage {
  /** Share of the non-held-back targeted devices (of `segments`, when set). */
  percent: number;
  segments: readonly string[] | null;
  min_wait_seconds: number;
  advance: 'automatic' | 'operator';
}

/**
 * The stages a valid strategy (see `deploymentPlanProblems`) runs through:
 * immediate is one stage, canary two, progressive and manual their own.
 */
export function rolloutStages(strategy: DeploymentStrategy): RolloutStage[] {
  switch (strategy.type) {
    case 'immediate':
      return [{ percent: 100, segments: null, min_wait_seconds: 0, advance: 'automatic' }];
    case 'canary':
      return [
        {
          percent: strategy.percent ?? 100,
          segments: null,
          min_wait_seconds: strategy.min_wait_seconds ?? 0,
          advance: 'automatic',
        },
        { percent: 100, segments: null, min_wait_seconds: 0, advance: 'automatic' },
      ];
    case 'progressive':
    case 'manual':
      return (strategy.stages ?? []).map((stage) => ({
        percent: stage.percent ?? 100,
        segments: stage.segments ?? null,
        min_wait_seconds: stage.min_wait_seconds ?? 0,
        advance: strategy.type === 'manual' ? 'operator' : 'automatic',
      }));
  }
}

/** Where a device falls in a rollout: a stage index, the control group, or nowhere. */
export type StagePlacement = number | 'held_back' | 'unreached';

/**
 * Places devices in stages by their stable bucket alone, so every caller
 * agrees without shared state. The top `holdbackPercent` of buckets is the
 * control group; a stage reaches the buckets below its percent of the rest.
 * A device belongs to the first stage that reaches it and stays in later
 * ones, so percentages only ever grow the set.
 */
export function stagePlacer(
  stages: readonly RolloutStage[],
  holdbackPercent: number,
): (device: { id: string; segment: string | null }) => StagePlacement {
  const usable = cohortBuckets - cohortThreshold(holdbackPercent);
  const compiled = stages.map((stage) => ({
    threshold: Math.round((cohortThreshold(stage.percent) * usable) / cohortBuckets),
    segments: stage.segments === null ? null : new Set(stage.segments),
  }));
  return (device) => {
    const bucket = cohortBucket(device.id);
    if (bucket >= usable) return 'held_back';
    for (const [index, stage] of compiled.entries()) {
      const inSegment =
        stage.segments === null || (device.segment !== null && stage.segments.has(device.segment));
      if (bucket < stage.threshold && inSegment) return index;
    }
    return 'unreached';
  };
}
