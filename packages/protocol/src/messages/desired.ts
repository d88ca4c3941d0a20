import { type Static, Type } from '@sinclair/typebox';
import { Id, MessageVersion, ServiceName } from './common.js';

export const DesiredRelease = Type.Object({
  id: Id,
  version: Type.Integer({ minimum: 1 }),
  /** The normalised compose specification, images pinned by digest. */
  compose: Type.Record(Type.String(), Type.Unknown()),
  content_hash: Type.String(),
});

export const DesiredHostCommand = Type.Object({
  id: Id,
  deployment_id: Type.Optional(Id),
  command: Type.String({ minLength: 1, maxLength: 16_384 }),
  timeout_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  expected_exit_code: Type.Integer(),
  /** Run the deployment's rollback command instead of the command. */
  rollback: Type.Boolean(),
});

/**
 * What a device should run. Published retained on `devices/{id}/desired`, so
 * a device gets the latest at once when it connects.
 */
export const DesiredStateMessage = Type.Object({
  v: MessageVersion,
  /** Strictly increasing per device; a device ignores an older one. */
  revision: Type.Integer({ minimum: 1 }),
  release: Type.Union([DesiredRelease, Type.Null()]),
  deployment_id: Type.Optional(Id),
  /** Effective environment per service, secrets opened. */
  environment: Type.Record(ServiceName, Type.Record(Type.String(), Type.String())),
  host_command: Type.Optional(DesiredHostCommand),
  config: Type.Object({
    heartbeat_interval_seconds: Type.Integer({ minimum: 1 }),
    telemetry_interval_seconds: Type.Integer({ minimum: 1 }),
    /** Updates paused: safe mode / quarantine. */
    updates_paused: Type.Boolean(),
  }),
});
export type DesiredStateMessage = Static<typeof DesiredStateMessage>;
