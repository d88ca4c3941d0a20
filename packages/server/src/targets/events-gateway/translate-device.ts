import type {
  DeviceOfflineMessage,
  DeviceOnlineMessage,
  PublicEvent,
  StoredDeviceEvent,
} from '@flock/protocol';
import { envelope } from './envelope.js';
import { publicEventId } from './event-id.js';

/*
 * Times are the ingester's clock, as the internal messages carry them: one
 * clock for every device, so one device's events order the way they happened.
 */

export function translateDeviceOnline(message: DeviceOnlineMessage): PublicEvent {
  return envelope(
    'device.online',
    {
      id: publicEventId(`device.online:${message.device_id}:${message.at}`),
      occurredAt: message.at,
      orgId: message.org_id,
      fleetId: message.fleet_id,
      deviceId: message.device_id,
    },
    {},
  );
}

export function translateDeviceOffline(message: DeviceOfflineMessage): PublicEvent {
  return envelope(
    'device.offline',
    {
      id: publicEventId(`device.offline:${message.device_id}:${message.at}`),
      occurredAt: message.at,
      orgId: message.org_id,
      fleetId: message.fleet_id,
      deviceId: message.device_id,
    },
    { last_seen_at: new Date(message.last_seen_at).toISOString(), reason: message.reason },
  );
}

/**
 * A device's update result becomes `update.completed` or `update.failed`;
 * progress, host-command results and command acknowledgements are not public.
 */
export function translateDeviceEvent(message: StoredDeviceEvent): PublicEvent | undefined {
  const { event } = message;
  if (event.type !== 'update.result') return undefined;
  const fields = {
    // The device's own event id: a device that resends its report sends the same one.
    id: publicEventId(`device.event:${message.device_id}:${event.id}`),
    occurredAt: message.received_at,
    orgId: message.org_id,
    fleetId: message.fleet_id,
    deviceId: message.device_id,
  };
  const outcome = {
    release_id: event.release_id,
    deployment_id: event.deployment_id ?? null,
    duration_ms: event.duration_ms,
  };
  return event.success
    ? envelope('update.completed', fields, outcome)
    : envelope('update.failed', fields, { ...outcome, error: event.error ?? null });
}
