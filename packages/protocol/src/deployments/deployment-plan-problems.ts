import type {
  DeploymentStrategy,
  HealthCriteria,
  HostCommand,
  RollbackPolicy,
  RolloutStageInput,
} from '../api/deployment-plan.js';
import type { FieldError } from '../errors.js';
import { type TargetSelector, selectorProblems } from '../selector/target-selector.js';

/** Everything a deployment decides, as a create body or a patched row gives it. */
export interface DeploymentPlan {
  release_id: string | null;
  selector: TargetSelector;
  strategy: DeploymentStrategy;
  health: HealthCriteria;
  rollback: RollbackPolicy;
  host_command: HostCommand | null;
}

/**
 * Every rule a plan that passed its schema breaks, as field errors below
 * `at` (`/body`); empty when it is valid. Pure: rules that need the
 * database (the release is the fleet's) are the caller's.
 */
export function deploymentPlanProblems(plan: DeploymentPlan, at: string): FieldError[] {
  const problems: FieldError[] = [];
  if (plan.release_id === null && plan.host_command === null) {
    problems.push({
      field: `${at}/release_id`,
      message: 'a deployment needs a release_id, a host_command or both',
    });
  }
  problems.push(...selectorProblems(plan.selector, `${at}/selector`));
  problems.push(...strategyProblems(plan.strategy, `${at}/strategy`));
  problems.push(...healthProblems(plan.health, plan.strategy, `${at}/health`));
  problems.push(...rollbackProblems(plan, `${at}/rollback`));
  return problems;
}

const twoDecimals = (value: number) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6;

function strategyProblems(strategy: DeploymentStrategy, at: string): FieldError[] {
  const problems: FieldError[] = [];
  const refuse = (field: string, hint: string) =>
    problems.push({
      field: `${at}/${field}`,
      message: `does not apply to a ${strategy.type} strategy; ${hint}`,
    });
  for (const field of ['percent', 'holdback_percent'] as const) {
    const value = strategy[field];
    if (value !== undefined && !twoDecimals(value)) {
      problems.push({ field: `${at}/${field}`, message: 'must have at most two decimals' });
    }
  }
  switch (strategy.type) {
    case 'immediate':
      if (strategy.percent !== undefined)
        refuse('percent', 'immediate reaches every targeted device at once');
      if (strategy.min_wait_seconds !== undefined)
        refuse('min_wait_seconds', 'immediate has a single stage');
      if (strategy.stages !== undefined) refuse('stages', 'use progressive or manual for stages');
      break;
    case 'canary':
      if (strategy.percent === undefined) {
        problems.push({
          field: `${at}/percent`,
          message: 'is required: the share of targeted devices the canary reaches first',
        });
      } else if (strategy.percent >= 100) {
        problems.push({
          field: `${at}/percent`,
          message:
            'must be below 100: a canary reaches part of the targeted devices first (immediate reaches all at once)',
        });
      }
      if (strategy.stages !== undefined) refuse('stages', 'use progressive or manual for stages');
      break;
    case 'progressive':
    case 'manual':
      if (strategy.stages === undefined) {
        problems.push({
          field: `${at}/stages`,
          message: `is required for a ${strategy.type} strategy`,
        });
      } else {
        problems.push(...stageProblems(strategy.stages, strategy.type, `${at}/stages`));
      }
      if (strategy.percent !== undefined) refuse('percent', 'give each stage its percent');
      if (strategy.min_wait_seconds !== undefined)
        refuse('min_wait_seconds', 'give each stage its min_wait_seconds');
      break;
  }
  return problems;
}

function stageProblems(
  stages: readonly RolloutStageInput[],
  type: 'progressive' | 'manual',
  at: string,
): FieldError[] {
  const problems: FieldError[] = [];
  // The share reached so far of every device (general) and of each segment.
  let general = 0;
  let generalStage = -1;
  const reached = new Map<string, number>();
  for (const [index, stage] of stages.entries()) {
    const field = `${at}/${index}`;
    if (type === 'progressive' && stage.min_wait_seconds === undefined) {
      problems.push({
        field: `${field}/min_wait_seconds`,
        message: 'is required for a progressive stage: how long it holds, healthy, before the next',
      });
    }
    if (stage.percent === undefined && stage.segments === undefined) {
      problems.push({ field, message: 'a stage needs percent, segments or both' });
      continue;
    }
    const percent = stage.percent ?? 100;
    if (!twoDecimals(percent)) {
      problems.push({ field: `${field}/percent`, message: 'must have at most two decimals' });
    }
    if (stage.segments === undefined) {
      if (percent <= general) {
        const previous =
          generalStage === index - 1 ? 'the previous stage' : `stage ${generalStage}`;
        problems.push({
          field: `${field}/percent`,
          message: `must be greater than ${previous} (${general})`,
        });
      } else {
        general = percent;
        generalStage = index;
      }
    } else {
      const grows = stage.segments.some(
        (segment) => percent > Math.max(general, reached.get(segment) ?? 0),
      );
      if (!grows) {
        problems.push({
          field,
          message: `reaches no device the earlier stages do not: its segments are already at ${percent} % or more`,
        });
      }
      for (const segment of stage.segments) {
        reached.set(segment, Math.max(percent, reached.get(segment) ?? 0));
      }
    }
  }
  const lastIndex = stages.length - 1;
  const last = stages[lastIndex];
  if (last?.segments !== undefined) {
    problems.push({
      field: `${at}/${lastIndex}/segments`,
      message:
        'the last stage must reach every targeted device: drop segments, or add a final stage with percent 100',
    });
  } else if (last?.percent !== undefined && last.percent !== 100) {
    problems.push({
      field: `${at}/${lastIndex}/percent`,
      message: 'must be 100: the last stage reaches every targeted device',
    });
  }
  return problems;
}

function healthProblems(
  health: HealthCriteria,
  strategy: DeploymentStrategy,
  at: string,
): FieldError[] {
  const problems: FieldError[] = [];
  for (const [index, threshold] of (health.telemetry_thresholds ?? []).entries()) {
    if (threshold.relative_to === 'holdback' && (strategy.holdback_percent ?? 0) === 0) {
      problems.push({
        field: `${at}/telemetry_thresholds/${index}/relative_to`,
        message: 'compares with the holdback cohort, so strategy.holdback_percent must be above 0',
      });
    }
    if (threshold.window_seconds > health.evaluation_window_seconds) {
      problems.push({
        field: `${at}/telemetry_thresholds/${index}/window_seconds`,
        message: `must not exceed evaluation_window_seconds (${health.evaluation_window_seconds}): a longer window would judge the release on data from before it`,
      });
    }
  }
  return problems;
}

function rollbackProblems(plan: DeploymentPlan, at: string): FieldError[] {
  const { rollback, release_id: releaseId, host_command: hostCommand } = plan;
  const problems: FieldError[] = [];
  const target = rollback.target_release_id ?? null;
  if (target !== null && rollback.action !== 'revert') {
    problems.push({
      field: `${at}/target_release_id`,
      message: `applies only when action is revert, not ${rollback.action}`,
    });
  } else if (target !== null && target.toLowerCase() === releaseId?.toLowerCase()) {
    problems.push({
      field: `${at}/target_release_id`,
      message: 'must differ from release_id, the release being deployed',
    });
  }
  if (
    rollback.action === 'revert' &&
    releaseId === null &&
    (hostCommand?.rollback_command ?? null) === null
  ) {
    problems.push({
      field: `${at}/action`,
      message: 'revert needs a release to move back from or a host_command.rollback_command to run',
    });
  }
  return problems;
}
