import { networkInterfaces, uptime } from 'node:os';
import type { DeviceStateMessage, TelemetryMessage } from '@flock/protocol';
import type { ReconcilerStatus } from '../reconcile/reconciler.js';

/** The device's addresses, loopback and link-local ones left out. */
export function deviceAddresses(
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string[] {
  const addresses: string[] = [];
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (
        entry.internal ||
        entry.address.startsWith('fe80:') ||
        entry.address.startsWith('169.254.')
      )
        continue;
      addresses.push(entry.address);
    }
  }
  return addresses.slice(0, 32);
}

/** The `state` heartbeat: what runs, how the update goes, and a resource summary. */
export function buildHeartbeat(input: {
  status: ReconcilerStatus;
  agentVersion: string;
  osVersion: string | undefined;
  telemetry: TelemetryMessage | undefined;
}): DeviceStateMessage {
  const { status, telemetry } = input;
  const message: DeviceStateMessage = {
    v: 1,
    sent_at: new Date().toISOString(),
    running_release_id: status.runningReleaseId,
    services: status.services,
    agent_version: input.agentVersion.slice(0, 64),
    uptime_seconds: Math.floor(uptime()),
    addresses: deviceAddresses(),
    update: status.update,
  };
  if (status.appliedRevision !== undefined) message.applied_revision = status.appliedRevision;
  if (input.osVersion !== undefined) message.os_version = input.osVersion.slice(0, 128);
  if (
    telemetry?.memory_total_bytes !== undefined &&
    telemetry.memory_used_bytes !== undefined &&
    telemetry.disk_total_bytes !== undefined &&
    telemetry.disk_used_bytes !== undefined
  ) {
    message.resources = {
      cpu_percent: telemetry.cpu_percent ?? 0,
      memory_used_bytes: telemetry.memory_used_bytes,
      memory_total_bytes: telemetry.memory_total_bytes,
      disk_used_bytes: telemetry.disk_used_bytes,
      disk_total_bytes: telemetry.disk_total_bytes,
    };
  }
  return message;
}
