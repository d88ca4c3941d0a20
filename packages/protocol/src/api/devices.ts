import { type Static, Type } from '@sinclair/typebox';
import { Architecture, DeviceType } from './fleets.js';
import { ResourceName, Timestamp, Uuid } from './scalars.js';

const Secret = Type.String({ minLength: 1, maxLength: 256 });

/**
 * The installation's MQTT topic prefix (FLOCK_MQTT_TOPIC_PREFIX): the device
 * puts it before every `devices/{id}/...` topic. Absent (older servers): ''.
 */
export const TopicPrefix = Type.String({
  pattern: '^[^#+\\s]*$',
  description:
    "The installation's MQTT topic prefix, put before every devices/{id}/... topic; absent: ''",
});

export const RegisterDeviceRequest = Type.Object(
  {
    provisioning_key: Secret,
    /** Chosen by the device, kept for its life: it becomes the device id. */
    uuid: Uuid,
    device_type: DeviceType,
    architecture: Architecture,
    os_version: Type.Optional(Type.String({ maxLength: 128 })),
    agent_version: Type.Optional(Type.String({ maxLength: 64 })),
    /** Absent: the first 7 characters of the uuid. */
    name: Type.Optional(ResourceName),
  },
  { additionalProperties: false },
);
export type RegisterDeviceRequest = Static<typeof RegisterDeviceRequest>;

export const RegisterDeviceResponse = Type.Object({
  device_id: Uuid,
  org_id: Uuid,
  fleet_id: Uuid,
  /** A device JWT for the API and the broker. */
  token: Type.String(),
  token_expires_at: Timestamp,
  /** Exchanged for new tokens at POST /v1/devices/token; shown once. */
  device_secret: Type.String(),
  topic_prefix: Type.Optional(TopicPrefix),
});
export type RegisterDeviceResponse = Static<typeof RegisterDeviceResponse>;

export const DeviceTokenRequest = Type.Object(
  { device_id: Uuid, device_secret: Secret },
  { additionalProperties: false },
);
export type DeviceTokenRequest = Static<typeof DeviceTokenRequest>;

export const DeviceTokenResponse = Type.Object({
  token: Type.String(),
  expires_at: Timestamp,
  /** Sent again with every token, so a changed prefix reaches devices at their next renewal. */
  topic_prefix: Type.Optional(TopicPrefix),
});
export type DeviceTokenResponse = Static<typeof DeviceTokenResponse>;
