import type { PublicEvent, RolloutEventMessage } from '@flock/protocol';
import { envelope } from './envelope.js';
import { publicEventId } from './event-id.js';

type Strategy = 'immediate' | 'canary' | 'progressive' | 'manual';

/**
 * The scheduler's rollout messages as public events. `rollout.paused` is
 * not in catalogue v1 and stays internal. The id derives from the
 * scheduler's message id, so a redelivered message is stored once.
 */
export function translateRollout(message: RolloutEventMessage): PublicEvent | undefined {
  const fields = {
    id: publicEventId(`rollout:${message.id}`),
    occurredAt: message.occurred_at,
    orgId: message.org_id,
    fleetId: message.fleet_id,
  };
  const progress = {
    rollout_id: message.rollout_id,
    deployment_id: message.deployment_id,
    release_id: message.release_id,
    targeted: message.targeted,
    updated: message.updated,
    failed: message.failed,
  };
  const reason = message.reason ?? '';
  switch (message.type) {
    case 'rollout.started':
      return envelope('rollout.started', fields, {
        ...progress,
        strategy: message.strategy as Strategy,
      });
    case 'rollout.stage_advanced':
      return envelope('rollout.stage_advanced', fields, {
        ...progress,
        stage: message.stage,
        stage_count: message.stage_count,
        percent: message.percent,
      });
    case 'rollout.completed':
      return envelope('rollout.completed', fields, progress);
    case 'rollout.failed':
      return envelope('rollout.failed', fields, { ...progress, reason });
    case 'rollout.rolled_back':
      return envelope('rollout.rolled_back', fields, {
        ...progress,
        reason,
        to_release_id: message.to_release_id ?? null,
      });
    case 'rollout.paused':
      return undefined;
  }
}
