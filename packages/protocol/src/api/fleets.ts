import { type Static, Type } from '@sinclair/typebox';
import { ListPage } from './list-page.js';
import { ResourceName, Timestamp, Uuid } from './scalars.js';

/** A device type slug, as in balena's contracts: `raspberrypi4-64`, `generic-amd64`. */
export const DeviceType = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[a-z0-9][a-z0-9._-]*$',
  description: 'Lower-case device type slug, e.g. raspberrypi4-64',
});

/** The CPU architecture images must be built for: `aarch64`, `armv7hf`, `amd64`. */
export const Architecture = Type.String({
  minLength: 1,
  maxLength: 32,
  pattern: '^[a-z0-9][a-z0-9_-]*$',
  description: 'Lower-case CPU architecture, e.g. aarch64',
});

export const CreateFleetRequest = Type.Object(
  { name: ResourceName, device_type: DeviceType, architecture: Architecture },
  { additionalProperties: false },
);
export type CreateFleetRequest = Static<typeof CreateFleetRequest>;

/**
 * What a fleet's devices are is fixed while it has any: a fleet's devices
 * match its type and architecture (docs/decisions/0120, 0260).
 */
export const UpdateFleetRequest = Type.Object(
  {
    name: Type.Optional(ResourceName),
    device_type: Type.Optional(DeviceType),
    architecture: Type.Optional(Architecture),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateFleetRequest = Static<typeof UpdateFleetRequest>;

export const Fleet = Type.Object({
  id: Uuid,
  org_id: Uuid,
  name: Type.String(),
  device_type: Type.String(),
  architecture: Type.String(),
  /** What the fleet's devices run unless a rollout or a pin says otherwise; moved with PUT .../default-release. */
  default_release_id: Type.Union([Uuid, Type.Null()]),
  /** Incremented on every change; the ETag, for If-Match. */
  revision: Type.Integer({ minimum: 1 }),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Fleet = Static<typeof Fleet>;

export const FleetList = ListPage(Fleet);
export type FleetList = Static<typeof FleetList>;
