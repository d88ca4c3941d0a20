import { type Static, Type } from '@sinclair/typebox';
import { Id, IsoTime, MessageVersion } from './common.js';
import { DeviceEventMessage } from './events.js';
import { compileMessageParser } from './parse-message.js';
import { DeviceStateMessage } from './state.js';

/**
 * Messages between backend targets on `flock/internal/v1/...`. They carry the
 * device's org and fleet so that consumers need no registry lookup; times are
 * the ingester's clock, not the device's.
 */
const device = { device_id: Id, org_id: Id, fleet_id: Id };

/** One device's heartbeat as the ingester stored it. */
export const StoredDeviceState = Type.Object({
  ...device,
  received_at: IsoTime,
  state: DeviceStateMessage,
});
export type StoredDeviceState = Static<typeof StoredDeviceState>;

/**
 * Heartbeats the ingester stored, many per message: at tens of thousands of
 * heartbeats a second, one message each would double the broker's load.
 * Published on `internalTopics.deviceState`, QoS 0: the KV store holds the
 * latest state, this is the change feed.
 */
export const DeviceStatesMessage = Type.Object({
  v: MessageVersion,
  states: Type.Array(StoredDeviceState, { minItems: 1, maxItems: 1000 }),
});
export type DeviceStatesMessage = Static<typeof DeviceStatesMessage>;

/** The device was offline (or never seen) and a message arrived. `internalTopics.deviceOnline`, QoS 1. */
export const DeviceOnlineMessage = Type.Object({
  v: MessageVersion,
  ...device,
  at: IsoTime,
});
export type DeviceOnlineMessage = Static<typeof DeviceOnlineMessage>;

export const offlineReasons = ['timeout', 'disconnect'] as const;

/**
 * Nothing arrived within the heartbeat timeout, or the broker saw the
 * connection close. `internalTopics.deviceOffline`, QoS 1.
 */
export const DeviceOfflineMessage = Type.Object({
  v: MessageVersion,
  ...device,
  at: IsoTime,
  last_seen_at: IsoTime,
  reason: Type.Union(offlineReasons.map((reason) => Type.Literal(reason))),
});
export type DeviceOfflineMessage = Static<typeof DeviceOfflineMessage>;

/** A device event, validated, with the device it came from. `internalTopics.deviceEvent`, QoS 1. */
export const StoredDeviceEvent = Type.Object({
  v: MessageVersion,
  ...device,
  received_at: IsoTime,
  event: DeviceEventMessage,
});
export type StoredDeviceEvent = Static<typeof StoredDeviceEvent>;

/**
 * A broker saw an MQTT connection end. The embedded broker publishes it on
 * `internalTopics.clientDisconnected`; an external one can be configured to
 * (docs/ingester.md). Devices connect with their id as client id.
 */
export const ClientDisconnectedMessage = Type.Object({
  v: MessageVersion,
  client_id: Type.String({ minLength: 1, maxLength: 256 }),
  at: IsoTime,
});
export type ClientDisconnectedMessage = Static<typeof ClientDisconnectedMessage>;

export const rolloutEventTypes = [
  'rollout.started',
  'rollout.stage_advanced',
  'rollout.paused',
  'rollout.completed',
  'rollout.failed',
  'rollout.rolled_back',
] as const;
export type RolloutEventType = (typeof rolloutEventTypes)[number];

/**
 * A rollout changed state; the scheduler publishes it after the change
 * committed, QoS 1, on the `internalTopics` entry of its type
 * (`rolloutStarted`, ...). Counts are the rollout's at that moment. `reason`
 * says why it paused, failed or rolled back; `to_release_id` is where a
 * rollback sends devices (null: each device's previous release).
 */
export const RolloutEventMessage = Type.Object({
  v: MessageVersion,
  type: Type.Union(rolloutEventTypes.map((type) => Type.Literal(type))),
  id: Id,
  occurred_at: IsoTime,
  org_id: Id,
  fleet_id: Id,
  rollout_id: Id,
  deployment_id: Id,
  release_id: Type.Union([Id, Type.Null()]),
  strategy: Type.String(),
  targeted: Type.Integer({ minimum: 0 }),
  updated: Type.Integer({ minimum: 0 }),
  failed: Type.Integer({ minimum: 0 }),
  stage: Type.Integer({ minimum: -1 }),
  stage_count: Type.Integer({ minimum: 1 }),
  /** Share of the eligible devices the current stage reaches, earlier stages included. */
  percent: Type.Number({ minimum: 0, maximum: 100 }),
  reason: Type.Union([Type.String(), Type.Null()]),
  to_release_id: Type.Optional(Type.Union([Id, Type.Null()])),
});
export type RolloutEventMessage = Static<typeof RolloutEventMessage>;

/**
 * A device a rollout targeted reported its update's outcome, as the
 * scheduler recorded it. `internalTopics.updateCompleted` / `updateFailed`, QoS 1.
 */
export const UpdateOutcomeMessage = Type.Object({
  v: MessageVersion,
  type: Type.Union([Type.Literal('update.completed'), Type.Literal('update.failed')]),
  id: Id,
  occurred_at: IsoTime,
  ...device,
  rollout_id: Id,
  deployment_id: Id,
  release_id: Id,
  duration_ms: Type.Integer({ minimum: 0 }),
  error: Type.Union([Type.String({ maxLength: 4000 }), Type.Null()]),
});
export type UpdateOutcomeMessage = Static<typeof UpdateOutcomeMessage>;

export const internalMessageSchemas = {
  deviceStates: DeviceStatesMessage,
  deviceOnline: DeviceOnlineMessage,
  deviceOffline: DeviceOfflineMessage,
  deviceEvent: StoredDeviceEvent,
  clientDisconnected: ClientDisconnectedMessage,
  rolloutEvent: RolloutEventMessage,
  updateOutcome: UpdateOutcomeMessage,
} as const;

export type InternalMessageKind = keyof typeof internalMessageSchemas;

/** Parses and validates one internal message; never throws. */
export const parseInternalMessage = compileMessageParser(internalMessageSchemas);
