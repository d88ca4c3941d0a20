import { defaultHealth, defaultRollback } from '../api/deployment-plan.js';
import type { FieldError } from '../errors.js';
import { type DeploymentPlan, deploymentPlanProblems } from './deployment-plan-problems.js';
import { type DeploymentPlanInput, normalizeDeploymentPlan } from './normalize-deployment-plan.js';

export type DeploymentPlanCheck =
  { ok: true; plan: DeploymentPlan } | { ok: false; problems: FieldError[] };

/**
 * A plan as a request gives it (it passed its schema), checked against every
 * rule and then normalized; or all its problems, with fields below `at`.
 */
export function checkDeploymentPlan(input: DeploymentPlanInput, at: string): DeploymentPlanCheck {
  const asGiven: DeploymentPlan = {
    release_id: input.release_id ?? null,
    selector: input.selector ?? {},
    strategy: input.strategy,
    health: input.health ?? defaultHealth,
    rollback: input.rollback ?? defaultRollback,
    host_command: input.host_command ?? null,
  };
  const problems = deploymentPlanProblems(asGiven, at);
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, plan: normalizeDeploymentPlan(asGiven) };
}
