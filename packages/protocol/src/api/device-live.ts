import { type Static, Type } from '@sinclair/typebox';
import { commandTypes } from '../messages/commands.js';
import { ServiceName } from '../messages/common.js';
import { serviceStatuses, updateStatuses } from '../messages/state.js';
import { telemetryMetrics } from '../messages/telemetry.js';
import { Timestamp, Uuid } from './scalars.js';

const literals = <T extends string>(values: readonly T[]) =>
  Type.Union(values.map((value) => Type.Literal(value)));

export const DeviceServiceStatus = Type.Object({
  name: Type.String(),
  image: Type.String(),
  status: literals(serviceStatuses),
  started_at: Type.Union([Timestamp, Type.Null()]),
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
});
export type DeviceServiceStatus = Static<typeof DeviceServiceStatus>;

/** What a device last reported, as the ingester keeps it; null fields were never reported. */
export const DeviceLiveStatus = Type.Object({
  device_id: Uuid,
  online: Type.Boolean(),
  last_seen_at: Type.Union([Timestamp, Type.Null()]),
  running_release: Type.Union([
    Type.Object({ id: Uuid, version: Type.Union([Type.Integer(), Type.Null()]) }),
    Type.Null(),
  ]),
  services: Type.Array(DeviceServiceStatus),
  update: Type.Union([
    Type.Object({
      release_id: Type.Union([Uuid, Type.Null()]),
      status: literals(updateStatuses),
      progress: Type.Union([Type.Number(), Type.Null()]),
      error: Type.Union([Type.String(), Type.Null()]),
    }),
    Type.Null(),
  ]),
  resources: Type.Union([
    Type.Object({
      cpu_percent: Type.Number(),
      memory_used_bytes: Type.Number(),
      memory_total_bytes: Type.Number(),
      disk_used_bytes: Type.Number(),
      disk_total_bytes: Type.Number(),
    }),
    Type.Null(),
  ]),
  agent_version: Type.Union([Type.String(), Type.Null()]),
  os_version: Type.Union([Type.String(), Type.Null()]),
  uptime_seconds: Type.Union([Type.Integer(), Type.Null()]),
  addresses: Type.Array(Type.String()),
  applied_revision: Type.Union([Type.Integer(), Type.Null()]),
});
export type DeviceLiveStatus = Static<typeof DeviceLiveStatus>;

export const DeviceLogsQuery = Type.Object(
  {
    since: Type.Optional(Timestamp),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    service: Type.Optional(ServiceName),
    follow: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type DeviceLogsQuery = Static<typeof DeviceLogsQuery>;

export const DeviceLogLine = Type.Object({
  time: Timestamp,
  service: Type.Union([Type.String(), Type.Null()]),
  stream: literals(['stdout', 'stderr', 'system'] as const),
  message: Type.String(),
});
export type DeviceLogLine = Static<typeof DeviceLogLine>;

export const DeviceLogLines = Type.Object({ items: Type.Array(DeviceLogLine) });
export type DeviceLogLines = Static<typeof DeviceLogLines>;

export const telemetryQueryAggregates = ['mean', 'min', 'max'] as const;

export const DeviceTelemetryQuery = Type.Object(
  {
    metric: Type.Union([
      literals(telemetryMetrics),
      Type.String({ pattern: '^custom\\.[a-z][a-z0-9_.]{0,62}$' }),
    ]),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Timestamp),
    bucket_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_592_000 })),
    aggregate: literals(telemetryQueryAggregates),
  },
  { additionalProperties: false },
);
export type DeviceTelemetryQuery = Static<typeof DeviceTelemetryQuery>;

export const DeviceTelemetrySeries = Type.Object({
  metric: Type.String(),
  aggregate: literals(telemetryQueryAggregates),
  from: Timestamp,
  to: Timestamp,
  bucket_seconds: Type.Integer(),
  points: Type.Array(Type.Object({ time: Timestamp, value: Type.Number() })),
});
export type DeviceTelemetrySeries = Static<typeof DeviceTelemetrySeries>;

export const SendDeviceCommand = Type.Object(
  { type: literals(commandTypes), service: Type.Optional(ServiceName) },
  { additionalProperties: false },
);
export type SendDeviceCommand = Static<typeof SendDeviceCommand>;

export const deviceCommandStatuses = [
  'sent',
  'accepted',
  'completed',
  'failed',
  'rejected',
] as const;

export const DeviceCommand = Type.Object({
  id: Uuid,
  device_id: Uuid,
  type: literals(commandTypes),
  service: Type.Union([Type.String(), Type.Null()]),
  issued_by: Type.Object({ type: Type.String(), id: Type.String() }),
  issued_at: Timestamp,
  status: literals(deviceCommandStatuses),
  acked_at: Type.Union([Timestamp, Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()]),
});
export type DeviceCommand = Static<typeof DeviceCommand>;
