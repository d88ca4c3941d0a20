import { randomUUID } from 'node:crypto';
import {
  type DeploymentPlan,
  internalTopics,
  type RolloutEventMessage,
  type RolloutEventType,
  rolloutStages,
  type UpdateOutcomeMessage,
} from '@flock/protocol';
import type { Selectable } from 'kysely';
import type { Bus } from '../../platform/bus/bus.js';
import type { RolloutsTable } from '../../platform/db/schema.js';
import type { Logger } from '../../platform/log/create-logger.js';

const rolloutTopics: Record<RolloutEventType, string> = {
  'rollout.started': internalTopics.rolloutStarted,
  'rollout.stage_advanced': internalTopics.rolloutStageAdvanced,
  'rollout.paused': internalTopics.rolloutPaused,
  'rollout.completed': internalTopics.rolloutCompleted,
  'rollout.failed': internalTopics.rolloutFailed,
  'rollout.rolled_back': internalTopics.rolloutRolledBack,
};

export type RolloutRow = Selectable<RolloutsTable>;

/** A rollout event to publish once its change committed. */
export interface PendingRolloutEvent {
  type: RolloutEventType;
  rollout: RolloutRow;
  plan: DeploymentPlan;
  reason?: string | null;
  toReleaseId?: string | null;
}

export function rolloutEventMessage(event: PendingRolloutEvent, at: Date): RolloutEventMessage {
  const { rollout, plan } = event;
  const stages = rolloutStages(plan.strategy);
  return {
    v: 1,
    type: event.type,
    id: randomUUID(),
    occurred_at: at.toISOString(),
    org_id: rollout.org_id,
    fleet_id: rollout.fleet_id,
    rollout_id: rollout.id,
    deployment_id: rollout.deployment_id,
    release_id: rollout.release_id,
    strategy: plan.strategy.type,
    targeted: rollout.targeted,
    updated: rollout.succeeded,
    failed: rollout.failed,
    stage: rollout.stage,
    stage_count: rollout.stage_count,
    percent: rollout.stage < 0 ? 0 : (stages[rollout.stage]?.percent ?? 100),
    reason: event.reason ?? rollout.reason,
    ...(event.toReleaseId === undefined ? {} : { to_release_id: event.toReleaseId }),
  };
}

/**
 * Announces rollout changes and update outcomes on the internal topics for
 * the events gateway, after they committed. At most once: a crash between
 * the commit and the publish loses the announcement, never the change.
 */
export class RolloutEvents {
  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  rollout(events: readonly PendingRolloutEvent[], at: Date): void {
    for (const event of events) {
      const message = rolloutEventMessage(event, at);
      this.#publish(rolloutTopics[event.type], message, message.rollout_id);
    }
  }

  update(message: UpdateOutcomeMessage): void {
    const topic =
      message.type === 'update.completed'
        ? internalTopics.updateCompleted
        : internalTopics.updateFailed;
    this.#publish(topic, message, message.rollout_id);
  }

  #publish(topic: string, message: object, rolloutId: string): void {
    this.bus
      .publish(topic, JSON.stringify(message), { qos: 1 })
      .catch((error: unknown) =>
        this.log.warn({ err: error, topic, rolloutId }, 'rollout event not announced'),
      );
  }
}
