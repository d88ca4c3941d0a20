import type { RolloutIntent } from '@flock/protocol';
import type { Selectable } from 'kysely';
import type { RolloutIntentsTable } from '../../../platform/db/schema.js';

export function rolloutIntentView(row: Selectable<RolloutIntentsTable>): RolloutIntent {
  return {
    id: row.id,
    rollout_id: row.rollout_id,
    deployment_id: row.deployment_id,
    action: row.action,
    created_at: row.created_at.toISOString(),
    processed_at: row.processed_at === null ? null : row.processed_at.toISOString(),
    outcome: row.outcome,
    detail: row.detail,
  };
}
