import { type Static, Type } from '@sinclair/typebox';
import { IsoTime, MessageVersion, ServiceName } from './common.js';

export const LogLine = Type.Object({
  /** null for the agent's or the host's own lines. */
  service: Type.Union([ServiceName, Type.Null()]),
  timestamp: IsoTime,
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr'), Type.Literal('system')]),
  message: Type.String({ maxLength: 16_384 }),
});
export type LogLine = Static<typeof LogLine>;

/** A batch of log lines. Published on `devices/{id}/logs`, QoS 1. */
export const LogsMessage = Type.Object({
  v: MessageVersion,
  lines: Type.Array(LogLine, { minItems: 1, maxItems: 1000 }),
});
export type LogsMessage = Static<typeof LogsMessage>;
