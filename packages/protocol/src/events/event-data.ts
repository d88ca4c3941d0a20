import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { strategyTypes } from '../api/deployment-plan.js';
import { Timestamp, Uuid } from '../api/scalars.js';
import type { PublicEventType } from './event-types.js';

/**
 * The `data` of each public event type. The envelope already carries the
 * org, fleet and device, so `data` repeats none of them. Every object is
 * closed: a field customers did not see before is a deliberate addition
 * to the catalogue, not a leak of an internal one.
 */
const closed = { additionalProperties: false } as const;
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** Who did it, for events that follow a person's or a key's action. */
export const EventActor = Type.Object(
  { type: Type.String(), id: Type.String() },
  { ...closed, description: 'Who caused the event: a user, an API key, a provisioning key' },
);

export const DeviceRegisteredData = Type.Object(
  {
    name: Type.String(),
    /** The same device registered again: its row and id stayed, its secret changed. */
    reregistered: Type.Boolean(),
    provisioning_key_prefix: Type.String(),
    actor: EventActor,
  },
  closed,
);

export const DeviceDeregisteredData = Type.Object(
  { name: Type.String(), actor: EventActor },
  closed,
);

export const DeviceOnlineData = Type.Object({}, closed);

export const DeviceOfflineData = Type.Object(
  {
    last_seen_at: Timestamp,
    /** `timeout`: nothing arrived within the heartbeat timeout; `disconnect`: the connection closed. */
    reason: Type.Union([Type.Literal('timeout'), Type.Literal('disconnect')]),
  },
  closed,
);

export const ReleaseCreatedData = Type.Object(
  {
    release_id: Uuid,
    /** Assigned by the server, 1, 2, 3... per fleet. */
    version: Type.Integer({ minimum: 1 }),
    semver: Nullable(Type.String()),
    content_hash: Type.String(),
    services: Type.Array(Type.String()),
    actor: EventActor,
  },
  closed,
);

export const DeploymentCreatedData = Type.Object(
  {
    deployment_id: Uuid,
    name: Type.String(),
    release_id: Nullable(Uuid),
    strategy: Type.Union(strategyTypes.map((type) => Type.Literal(type))),
    /** Whether the plan runs a host command; never the command, which may hold credentials. */
    host_command: Type.Boolean(),
    actor: EventActor,
  },
  closed,
);

/** How far a rollout has come; every rollout event carries it. */
const rolloutProgress = {
  rollout_id: Uuid,
  deployment_id: Uuid,
  release_id: Nullable(Uuid),
  targeted: Type.Integer({ minimum: 0 }),
  updated: Type.Integer({ minimum: 0 }),
  failed: Type.Integer({ minimum: 0 }),
};

export const RolloutStartedData = Type.Object(
  { ...rolloutProgress, strategy: Type.Union(strategyTypes.map((type) => Type.Literal(type))) },
  closed,
);

export const RolloutStageAdvancedData = Type.Object(
  {
    ...rolloutProgress,
    /** The stage now running, from 0. */
    stage: Type.Integer({ minimum: 0 }),
    stage_count: Type.Integer({ minimum: 1 }),
    /** Share of the eligible devices this stage reaches, earlier stages included. */
    percent: Type.Number({ minimum: 0, maximum: 100 }),
  },
  closed,
);

export const RolloutCompletedData = Type.Object(rolloutProgress, closed);

export const RolloutFailedData = Type.Object({ ...rolloutProgress, reason: Type.String() }, closed);

export const RolloutRolledBackData = Type.Object(
  {
    ...rolloutProgress,
    reason: Type.String(),
    /** The release devices go back to; null when there was none before. */
    to_release_id: Nullable(Uuid),
  },
  closed,
);

const updateOutcome = {
  release_id: Type.String(),
  deployment_id: Nullable(Type.String()),
  duration_ms: Type.Integer({ minimum: 0 }),
};

export const UpdateCompletedData = Type.Object(updateOutcome, closed);

export const UpdateFailedData = Type.Object(
  { ...updateOutcome, error: Nullable(Type.String()) },
  closed,
);

export const ProvisioningKeyCreatedData = Type.Object(
  {
    provisioning_key_id: Uuid,
    name: Type.String(),
    prefix: Type.String(),
    expires_at: Nullable(Timestamp),
    max_uses: Nullable(Type.Integer({ minimum: 1 })),
    actor: EventActor,
  },
  closed,
);

export const ProvisioningKeyRevokedData = Type.Object(
  { provisioning_key_id: Uuid, name: Type.String(), prefix: Type.String(), actor: EventActor },
  closed,
);

/** Flock stopped sending a webhook subscription's events: its endpoint kept failing. */
export const SubscriptionDisabledData = Type.Object(
  {
    subscription_id: Uuid,
    /** Scheme, host and port only: a URL's path often holds the receiver's own credentials. */
    url_origin: Type.String(),
    reason: Type.String(),
    consecutive_failures: Type.Integer({ minimum: 1 }),
    /** The status of the last failed attempt; null when no answer came (refused, timed out). */
    last_status_code: Nullable(Type.Integer()),
  },
  closed,
);

/** The data schema of every type; the compiler proves none is missing. */
export const publicEventDataSchemas = {
  'device.registered': DeviceRegisteredData,
  'device.deregistered': DeviceDeregisteredData,
  'device.online': DeviceOnlineData,
  'device.offline': DeviceOfflineData,
  'release.created': ReleaseCreatedData,
  'deployment.created': DeploymentCreatedData,
  'rollout.started': RolloutStartedData,
  'rollout.stage_advanced': RolloutStageAdvancedData,
  'rollout.completed': RolloutCompletedData,
  'rollout.failed': RolloutFailedData,
  'rollout.rolled_back': RolloutRolledBackData,
  'update.completed': UpdateCompletedData,
  'update.failed': UpdateFailedData,
  'provisioning_key.created': ProvisioningKeyCreatedData,
  'provisioning_key.revoked': ProvisioningKeyRevokedData,
  'subscription.disabled': SubscriptionDisabledData,
} as const satisfies Record<PublicEventType, TSchema>;

export type PublicEventData<T extends PublicEventType> = Static<(typeof publicEventDataSchemas)[T]>;
