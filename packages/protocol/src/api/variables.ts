import { type Static, Type } from '@sinclair/typebox';
import { ServiceName } from '../messages/common.js';
import { ListPage } from './list-page.js';
import { Timestamp, Uuid } from './scalars.js';

/** Names Flock sets itself in every container; variables may not start with it. */
export const reservedVariablePrefix = 'FLOCK_';

/** An environment variable name as POSIX shells accept it. */
export const VariableName = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
  description:
    'Letters, digits and "_", not starting with a digit; at most 128. The FLOCK_ prefix is reserved.',
});

// A NUL cannot be passed through the environment (nor stored in a text column).
export const VariableValue = Type.String({
  maxLength: 32_768,
  pattern: '^[^\\u0000]*$',
  description: 'Any text without NUL characters; at most 32 768 characters',
});

const ServiceOrAll = Type.Union([ServiceName, Type.Null()], {
  description: 'The service the variable is for; null (the default) for every service',
});

export const CreateVariableRequest = Type.Object(
  {
    name: VariableName,
    value: VariableValue,
    service: Type.Optional(ServiceOrAll),
    secret: Type.Optional(
      Type.Boolean({
        description: 'Sealed at rest and never shown again by any read; the device still gets it',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateVariableRequest = Static<typeof CreateVariableRequest>;

/** Name and service are the variable's identity: change them by deleting and creating. */
export const UpdateVariableRequest = Type.Object(
  {
    value: Type.Optional(VariableValue),
    secret: Type.Optional(
      Type.Boolean({
        description:
          'true seals the value; false needs a new value, since a secret is never revealed',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateVariableRequest = Static<typeof UpdateVariableRequest>;

export const Variable = Type.Object({
  id: Uuid,
  fleet_id: Uuid,
  /** Null for a fleet-wide variable; the device it overrides for otherwise. */
  device_id: Type.Union([Uuid, Type.Null()]),
  service: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  /** Null when `secret`: a secret's value is never returned. */
  value: Type.Union([Type.String(), Type.Null()]),
  secret: Type.Boolean(),
  revision: Type.Integer({ description: 'Incremented on every change; the ETag is "r<revision>"' }),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Variable = Static<typeof Variable>;

export const VariableList = ListPage(Variable);
export type VariableList = Static<typeof VariableList>;

/** Where an effective value was defined, most specific first. */
export const variableSources = ['device_service', 'device', 'fleet_service', 'fleet'] as const;
export type VariableSource = (typeof variableSources)[number];

const Source = Type.Union(
  variableSources.map((source) => Type.Literal(source)),
  {
    description:
      'device_service: this device, this service; device: this device, every service; fleet_service: the fleet, this service; fleet: the fleet, every service',
  },
);

export const EffectiveVariable = Type.Object({
  name: Type.String(),
  value: Type.Union([Type.String(), Type.Null()], { description: 'Null when secret' }),
  secret: Type.Boolean(),
  source: Source,
  variable_id: Uuid,
  /** The less specific definitions of the same name that this one overrides. */
  shadowed: Type.Array(Type.Object({ source: Source, variable_id: Uuid })),
});
export type EffectiveVariable = Static<typeof EffectiveVariable>;

export const DeviceEnvironment = Type.Object({
  device_id: Uuid,
  fleet_id: Uuid,
  /**
   * One entry per service the device's releases or variables name, and one
   * with service null: what any other service gets.
   */
  services: Type.Array(
    Type.Object({
      service: Type.Union([Type.String(), Type.Null()]),
      variables: Type.Array(EffectiveVariable),
    }),
  ),
});
export type DeviceEnvironment = Static<typeof DeviceEnvironment>;
