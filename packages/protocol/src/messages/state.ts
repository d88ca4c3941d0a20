import { type Static, Type } from '@sinclair/typebox';
import { Bytes, Id, IsoTime, MessageVersion, Percent, ServiceName } from './common.js';

export const serviceStatuses = [
  'downloading',
  'installing',
  'created',
  'running',
  'stopped',
  'exited',
  'failed',
] as const;

export const ServiceState = Type.Object({
  name: ServiceName,
  image: Type.String({ maxLength: 512 }),
  status: Type.Union(serviceStatuses.map((s) => Type.Literal(s))),
  container_id: Type.Optional(Type.String({ maxLength: 128 })),
  started_at: Type.Optional(IsoTime),
  exit_code: Type.Optional(Type.Integer()),
  error: Type.Optional(Type.String({ maxLength: 2000 })),
});
export type ServiceState = Static<typeof ServiceState>;

export const updateStatuses = ['idle', 'downloading', 'installing', 'succeeded', 'failed'] as const;

/** The heartbeat: what the device runs now. Published on `devices/{id}/state`, QoS 1. */
export const DeviceStateMessage = Type.Object({
  v: MessageVersion,
  sent_at: IsoTime,
  /** The desired-state revision the device last applied. */
  applied_revision: Type.Optional(Type.Integer({ minimum: 0 })),
  running_release_id: Type.Union([Id, Type.Null()]),
  services: Type.Array(ServiceState, { maxItems: 100 }),
  agent_version: Type.String({ maxLength: 64 }),
  os_version: Type.Optional(Type.String({ maxLength: 128 })),
  uptime_seconds: Type.Integer({ minimum: 0 }),
  addresses: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }),
  resources: Type.Optional(
    Type.Object({
      cpu_percent: Percent,
      memory_used_bytes: Bytes,
      memory_total_bytes: Bytes,
      disk_used_bytes: Bytes,
      disk_total_bytes: Bytes,
    }),
  ),
  update: Type.Optional(
    Type.Object({
      release_id: Type.Union([Id, Type.Null()]),
      status: Type.Union(updateStatuses.map((s) => Type.Literal(s))),
      progress: Type.Optional(Percent),
      error: Type.Optional(Type.String({ maxLength: 2000 })),
    }),
  ),
});
export type DeviceStateMessage = Static<typeof DeviceStateMessage>;
