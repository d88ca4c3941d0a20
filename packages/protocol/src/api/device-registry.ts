import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ResourceName, Timestamp, Uuid } from './scalars.js';

/**
 * Free text of the registry (role, segment, owner…): no control characters,
 * which PostgreSQL refuses (NUL) or people cannot see, and no unpaired
 * surrogates, which would be stored as U+FFFD instead of what was sent.
 */
const RegistryText = (maxLength: number, description: string) =>
  Type.String({
    minLength: 1,
    maxLength,
    pattern: '^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]*$',
    description: `${description}; 1 to ${maxLength} characters, no control characters`,
  });

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const DeviceRole = RegistryText(64, 'What the device does in its fleet (seed 002: "kiosk")');
export const DeviceSegment = RegistryText(
  64,
  'The rollout segment (seed 002: canary, early, general); deployments select on it',
);
export const DeviceBranch = RegistryText(255, 'The branch the device follows');
export const DeviceSerial = RegistryText(128, 'The hardware serial number');
export const DeviceOwner = RegistryText(256, 'Who is responsible for the device');

/** Seconds between polls for devices that poll: 10 s to a week. */
export const UpdateInterval = Type.Integer({
  minimum: 10,
  maximum: 604_800,
  description: 'Seconds between polls, 10 to 604800 (a week)',
});

export const Geolocation = Type.Object(
  {
    latitude: Type.Number({ minimum: -90, maximum: 90 }),
    longitude: Type.Number({ minimum: -180, maximum: 180 }),
    /** Radius of the uncertainty, in metres. */
    accuracy_m: Type.Optional(Type.Number({ minimum: 0, maximum: 40_075_000 })),
  },
  { additionalProperties: false },
);
export type Geolocation = Static<typeof Geolocation>;

export const maxDeviceLabels = 64;
export const maxDeviceAttributes = 64;
/** Bytes of the attributes object as compact JSON. */
export const maxDeviceAttributesSize = 16_384;
/** Nesting of objects and arrays inside the attributes object. */
export const maxDeviceAttributesDepth = 8;

/** Kubernetes label syntax, checked beyond the schema by `deviceUpdateProblems`. */
export const DeviceLabels = Type.Record(Type.String(), Type.String({ maxLength: 63 }), {
  maxProperties: maxDeviceLabels,
  description: `Kubernetes-style labels ([prefix/]name: value), at most ${maxDeviceLabels}; selectable with ?selector=`,
});

export const DeviceAttributes = Type.Record(Type.String(), Type.Unknown(), {
  maxProperties: maxDeviceAttributes,
  description: `Custom attributes: any JSON values, at most ${maxDeviceAttributes} names and ${maxDeviceAttributesSize} bytes as JSON`,
});

/**
 * `quarantined` wins over the others. Until live state arrives, online
 * means seen within max(2 × update_interval, 5 minutes) (docs/decisions/0263).
 */
export const DeviceStatus = Type.Union([
  Type.Literal('online'),
  Type.Literal('offline'),
  Type.Literal('quarantined'),
]);
export type DeviceStatus = Static<typeof DeviceStatus>;

/** A device as the registry knows it; the ETag is its `revision`. */
export const Device = Type.Object({
  /** The uuid the device chose when it registered. */
  id: Uuid,
  org_id: Uuid,
  fleet_id: Uuid,
  name: Type.String(),
  device_type: Type.String(),
  architecture: Type.String(),
  labels: Type.Record(Type.String(), Type.String()),
  attributes: Type.Record(Type.String(), Type.Unknown()),
  role: Type.Union([Type.String(), Type.Null()]),
  segment: Type.Union([Type.String(), Type.Null()]),
  branch: Type.Union([Type.String(), Type.Null()]),
  update_interval: Type.Union([Type.Integer(), Type.Null()]),
  /** The release the device is pinned to (PUT .../pin), whatever rollouts say. */
  version_lock: Type.Union([Uuid, Type.Null()]),
  serial: Type.Union([Type.String(), Type.Null()]),
  geolocation: Type.Union([Geolocation, Type.Null()]),
  owner: Type.Union([Type.String(), Type.Null()]),
  os_version: Type.Union([Type.String(), Type.Null()]),
  agent_version: Type.Union([Type.String(), Type.Null()]),
  /** The release the device last reported running. */
  running_release_id: Type.Union([Uuid, Type.Null()]),
  quarantined: Type.Boolean(),
  status: DeviceStatus,
  created_at: Timestamp,
  updated_at: Timestamp,
  last_seen_at: Type.Union([Timestamp, Type.Null()]),
  revision: Type.Integer({ minimum: 1 }),
});
export type Device = Static<typeof Device>;

/**
 * Registry fields people and automation set; null clears one. `labels` and
 * `attributes` replace the whole map. Honours If-Match.
 */
export const UpdateDeviceRequest = Type.Object(
  {
    name: Type.Optional(ResourceName),
    labels: Type.Optional(DeviceLabels),
    attributes: Type.Optional(DeviceAttributes),
    role: Type.Optional(nullable(DeviceRole)),
    segment: Type.Optional(nullable(DeviceSegment)),
    branch: Type.Optional(nullable(DeviceBranch)),
    update_interval: Type.Optional(Type.Union([UpdateInterval, Type.Null()])),
    serial: Type.Optional(nullable(DeviceSerial)),
    geolocation: Type.Optional(Type.Union([Geolocation, Type.Null()])),
    owner: Type.Optional(nullable(DeviceOwner)),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateDeviceRequest = Static<typeof UpdateDeviceRequest>;

/** Another fleet of the same org whose device type and architecture match the device's. */
export const MoveDeviceRequest = Type.Object({ fleet_id: Uuid }, { additionalProperties: false });
export type MoveDeviceRequest = Static<typeof MoveDeviceRequest>;

/** A release of the device's fleet that is not archived. */
export const PinDeviceRequest = Type.Object({ release_id: Uuid }, { additionalProperties: false });
export type PinDeviceRequest = Static<typeof PinDeviceRequest>;
