import type {
  Deployment,
  DeploymentPlan,
  DeploymentStrategy,
  HealthCriteria,
  HostCommand,
  RollbackPolicy,
  TargetSelector,
} from '@flock/protocol';
import type { Selectable } from 'kysely';
import type { DeploymentsTable } from '../../../platform/db/schema.js';

export type DeploymentRow = Selectable<DeploymentsTable>;

/** The plan a row holds; rows are only ever written from normalized, checked plans. */
export function planOf(row: DeploymentRow): DeploymentPlan {
  return {
    release_id: row.release_id,
    selector: row.selector as TargetSelector,
    strategy: row.strategy as unknown as DeploymentStrategy,
    health: row.health as unknown as HealthCriteria,
    rollback: row.rollback as unknown as RollbackPolicy,
    host_command: row.host_command as HostCommand | null,
  };
}

/** The plan's columns, as the database takes them. */
export function planColumns(plan: DeploymentPlan) {
  return {
    release_id: plan.release_id,
    selector: JSON.stringify(plan.selector),
    strategy: JSON.stringify(plan.strategy),
    health: JSON.stringify(plan.health),
    rollback: JSON.stringify(plan.rollback),
    host_command: plan.host_command === null ? null : JSON.stringify(plan.host_command),
  };
}

export function deploymentView(row: DeploymentRow): Deployment {
  return {
    id: row.id,
    org_id: row.org_id,
    fleet_id: row.fleet_id,
    name: row.name,
    ...planOf(row),
    revision: row.revision,
    created_by: { type: row.created_by_type, id: row.created_by_id },
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    started_at: row.started_at === null ? null : row.started_at.toISOString(),
  };
}
