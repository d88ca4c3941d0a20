/**
 * Every MQTT topic Flock uses, built in one place. Device topics are the
 * device's own; `flock/internal/v1` is between backend targets only;
 * `flock/events/v1` is the public, versioned event API.
 */

/** What a device publishes. */
export const deviceUplinks = ['state', 'telemetry', 'logs', 'events'] as const;
export type DeviceUplink = (typeof deviceUplinks)[number];

/** What the backend publishes to a device; `desired` is retained. */
export const deviceDownlinks = ['desired', 'commands'] as const;
export type DeviceDownlink = (typeof deviceDownlinks)[number];

export type DeviceChannel = DeviceUplink | DeviceDownlink;

/**
 * `devices/{id}/{channel}`. Backend code leaves `topicPrefix` out (its bus
 * adds the installation prefix to every topic); a device, which talks to the
 * broker directly, passes the prefix the server gave it at registration.
 */
export const deviceTopic = (deviceId: string, channel: DeviceChannel, topicPrefix = ''): string =>
  `${topicPrefix}devices/${deviceId}/${channel}`;

/** The filter matching one uplink of every device, for backend subscribers. */
export const allDevices = (channel: DeviceUplink): string => `devices/+/${channel}`;

/** Splits `devices/<id>/<channel>`; undefined for any other topic. */
export function parseDeviceTopic(
  topic: string,
): { deviceId: string; channel: DeviceChannel } | undefined {
  const parts = topic.split('/');
  if (parts.length !== 3 || parts[0] !== 'devices' || parts[1] === '') return undefined;
  const channel = parts[2] as DeviceChannel;
  if (![...deviceUplinks, ...deviceDownlinks].includes(channel)) return undefined;
  return { deviceId: parts[1]!, channel };
}

export const internalTopics = {
  /** Each audit event after its change committed; payload: the stored AuditEvent. */
  audit: 'flock/internal/v1/audit',
  /** Devices' reported states as the ingester stored them, batched (DeviceStatesMessage). */
  deviceState: 'flock/internal/v1/device/state',
  deviceOnline: 'flock/internal/v1/device/online',
  deviceOffline: 'flock/internal/v1/device/offline',
  /** A device's update, host-command or command outcome, validated. */
  deviceEvent: 'flock/internal/v1/device/event',
  /** A broker saw a client's connection end (ClientDisconnectedMessage). */
  clientDisconnected: 'flock/internal/v1/broker/client-disconnected',
  /** Something changed what a device should run; the desired-state publisher recomputes it. */
  desiredChanged: 'flock/internal/v1/desired/changed',
  /** Rollout state changes, one topic per type (RolloutEventMessage), from the scheduler. */
  rolloutStarted: 'flock/internal/v1/rollout/started',
  rolloutStageAdvanced: 'flock/internal/v1/rollout/stage_advanced',
  rolloutPaused: 'flock/internal/v1/rollout/paused',
  rolloutCompleted: 'flock/internal/v1/rollout/completed',
  rolloutFailed: 'flock/internal/v1/rollout/failed',
  rolloutRolledBack: 'flock/internal/v1/rollout/rolled_back',
  /** A targeted device's update outcome as the scheduler recorded it (UpdateOutcomeMessage). */
  updateCompleted: 'flock/internal/v1/update/completed',
  updateFailed: 'flock/internal/v1/update/failed',
} as const;

const publicEventsRoot = 'flock/events/v1';

/**
 * Where the events gateway publishes a public event (QoS 1):
 * `flock/events/v1/{orgId}/{type with '.' as '/'}`, e.g.
 * `flock/events/v1/<org>/rollout/stage_advanced`.
 */
export const publicEventTopic = (orgId: string, type: string): string =>
  `${publicEventsRoot}/${orgId}/${type.replaceAll('.', '/')}`;

/** Every public event of one org (`flock/events/v1/{orgId}/#`), or of every org (`flock/events/v1/+/#`). */
export const publicEventsFilter = (orgId?: string): string =>
  `${publicEventsRoot}/${orgId ?? '+'}/#`;

/** Splits a public event topic into its org and event type; undefined for any other topic. */
export function parsePublicEventTopic(topic: string): { orgId: string; type: string } | undefined {
  const parts = topic.split('/');
  if (parts.length !== 6 || `${parts[0]}/${parts[1]}/${parts[2]}` !== publicEventsRoot)
    return undefined;
  if (parts.slice(3).some((part) => part === '')) return undefined;
  return { orgId: parts[3]!, type: `${parts[4]}.${parts[5]}` };
}
