import { type Static, Type } from '@sinclair/typebox';
import { Id, IsoTime, MessageVersion, Percent } from './common.js';

const base = { v: MessageVersion, id: Id, occurred_at: IsoTime };

export const UpdateProgressEvent = Type.Object({
  ...base,
  type: Type.Literal('update.progress'),
  release_id: Id,
  deployment_id: Type.Optional(Id),
  status: Type.Union([Type.Literal('downloading'), Type.Literal('installing')]),
  progress: Type.Optional(Percent),
});

export const UpdateResultEvent = Type.Object({
  ...base,
  type: Type.Literal('update.result'),
  release_id: Id,
  deployment_id: Type.Optional(Id),
  success: Type.Boolean(),
  error: Type.Optional(Type.String({ maxLength: 4000 })),
  duration_ms: Type.Integer({ minimum: 0 }),
});

export const HostCommandResultEvent = Type.Object({
  ...base,
  type: Type.Literal('host_command.result'),
  command_id: Id,
  deployment_id: Type.Optional(Id),
  /** True when this was the rollback command. */
  rollback: Type.Boolean(),
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  timed_out: Type.Boolean(),
  success: Type.Boolean(),
  stdout_tail: Type.String({ maxLength: 8192 }),
  stderr_tail: Type.String({ maxLength: 8192 }),
  duration_ms: Type.Integer({ minimum: 0 }),
});

export const CommandAckEvent = Type.Object({
  ...base,
  type: Type.Literal('command.ack'),
  command_id: Id,
  status: Type.Union([
    Type.Literal('accepted'),
    Type.Literal('completed'),
    Type.Literal('failed'),
    Type.Literal('rejected'),
  ]),
  detail: Type.Optional(Type.String({ maxLength: 2000 })),
});

/** Outcomes a device reports. Published on `devices/{id}/events`, QoS 1. */
export const DeviceEventMessage = Type.Union([
  UpdateProgressEvent,
  UpdateResultEvent,
  HostCommandResultEvent,
  CommandAckEvent,
]);
export type DeviceEventMessage = Static<typeof DeviceEventMessage>;
