import {
  type DeploymentStrategy,
  type HealthCriteria,
  type HostCommand,
  type RollbackPolicy,
  defaultHealth,
  defaultRollback,
} from '../api/deployment-plan.js';
import type { DeploymentPlan } from './deployment-plan-problems.js';

/** A plan as given: parts with defaults may be absent. */
export interface DeploymentPlanInput {
  release_id?: string | null | undefined;
  selector?: DeploymentPlan['selector'] | undefined;
  strategy: DeploymentStrategy;
  health?: HealthCriteria | undefined;
  rollback?: RollbackPolicy | undefined;
  host_command?: HostCommand | null | undefined;
}

/**
 * A plan that passed `deploymentPlanProblems` with every default written out,
 * as it is stored and shown: the scheduler then never guesses a default that
 * may have changed since. Ids are lowercased, as the database writes them.
 */
export function normalizeDeploymentPlan(input: DeploymentPlanInput): DeploymentPlan {
  return {
    release_id: input.release_id?.toLowerCase() ?? null,
    selector: input.selector ?? {},
    strategy: normalizeStrategy(input.strategy),
    health: normalizeHealth(input.health ?? defaultHealth),
    rollback: {
      ...(input.rollback ?? defaultRollback),
      target_release_id: input.rollback?.target_release_id?.toLowerCase() ?? null,
    },
    host_command:
      input.host_command === undefined || input.host_command === null
        ? null
        : {
            ...input.host_command,
            expected_exit_code: input.host_command.expected_exit_code ?? 0,
            rollback_command: input.host_command.rollback_command ?? null,
          },
  };
}

function normalizeStrategy(strategy: DeploymentStrategy): DeploymentStrategy {
  const holdback_percent = strategy.holdback_percent ?? 0;
  switch (strategy.type) {
    case 'immediate':
      return { type: 'immediate', holdback_percent };
    case 'canary':
      return {
        type: 'canary',
        ...(strategy.percent === undefined ? {} : { percent: strategy.percent }),
        min_wait_seconds: strategy.min_wait_seconds ?? 0,
        holdback_percent,
      };
    case 'progressive':
    case 'manual':
      return {
        type: strategy.type,
        stages: (strategy.stages ?? []).map((stage) => ({
          percent: stage.percent ?? 100,
          ...(stage.segments === undefined ? {} : { segments: stage.segments }),
          min_wait_seconds: stage.min_wait_seconds ?? 0,
        })),
        holdback_percent,
      };
  }
}

function normalizeHealth(health: HealthCriteria): HealthCriteria {
  return {
    ...health,
    min_sample_size: health.min_sample_size ?? 1,
    offline_counts_as_failure: health.offline_counts_as_failure ?? false,
    telemetry_thresholds: health.telemetry_thresholds ?? [],
  };
}
