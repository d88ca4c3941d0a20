import { type Static, Type } from '@sinclair/typebox';
import { Id, IsoTime, MessageVersion, ServiceName } from './common.js';

export const commandTypes = [
  'reboot',
  'restart_service',
  'purge_data',
  'identify',
  'resync',
] as const;
export type CommandType = (typeof commandTypes)[number];

/** A one-off instruction. Published on `devices/{id}/commands`, QoS 1, not retained. */
export const CommandMessage = Type.Object({
  v: MessageVersion,
  id: Id,
  type: Type.Union(commandTypes.map((t) => Type.Literal(t))),
  /** For restart_service and purge_data. */
  service: Type.Optional(ServiceName),
  issued_at: IsoTime,
});
export type CommandMessage = Static<typeof CommandMessage>;
