import type {
  DeploymentPlan,
  DeploymentStrategy,
  HealthCriteria,
  HostCommand,
  RollbackPolicy,
  TargetSelector,
} from '@flock/protocol';
import type { Selectable } from 'kysely';
import type { DeploymentsTable } from '../db/schema.js';

/** The plan a deployment row holds; rows are only ever written from normalized, checked plans. */
export function deploymentPlanOf(row: Selectable<DeploymentsTable>): DeploymentPlan {
  return {
    release_id: row.release_id,
    selector: row.selector as TargetSelector,
    strategy: row.strategy as unknown as DeploymentStrategy,
    health: row.health as unknown as HealthCriteria,
    rollback: row.rollback as unknown as RollbackPolicy,
    host_command: row.host_command as HostCommand | null,
  };
}
