import { type Static, Type } from '@sinclair/typebox';
import { Bytes, IsoTime, MessageVersion, Percent } from './common.js';

/** A metrics sample. Published on `devices/{id}/telemetry`, QoS 0. */
export const TelemetryMessage = Type.Object({
  v: MessageVersion,
  sent_at: IsoTime,
  cpu_percent: Type.Optional(Percent),
  memory_used_bytes: Type.Optional(Bytes),
  memory_total_bytes: Type.Optional(Bytes),
  disk_used_bytes: Type.Optional(Bytes),
  disk_total_bytes: Type.Optional(Bytes),
  network_rx_bytes: Type.Optional(Bytes),
  network_tx_bytes: Type.Optional(Bytes),
  temperature_c: Type.Optional(Type.Number({ minimum: -100, maximum: 200 })),
  /** Application metrics by name: a number each. */
  custom: Type.Optional(
    Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_.]{0,62}$' }), Type.Number(), {
      maxProperties: 64,
    }),
  ),
});
export type TelemetryMessage = Static<typeof TelemetryMessage>;

/** The numeric fields a health gate or a chart can aggregate. */
export const telemetryMetrics = [
  'cpu_percent',
  'memory_used_bytes',
  'memory_total_bytes',
  'disk_used_bytes',
  'disk_total_bytes',
  'network_rx_bytes',
  'network_tx_bytes',
  'temperature_c',
] as const;
export type TelemetryMetric = (typeof telemetryMetrics)[number];
