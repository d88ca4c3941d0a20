import { internalTopics, parseInternalMessage } from '@flock/protocol';
import type { Logger } from 'pino';
import type { Bus, BusMessage, Subscription } from '../../../platform/bus/bus.js';
import type { Db } from '../../../platform/db/database.js';

/** One member per api replica: the broker hands each ack to one of them. */
export const commandAckGroup = 'api-command-acks';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Records the device's `command.ack` events on its commands. An outcome
 * (completed, failed, rejected) is final; `accepted` only moves a command
 * that is still `sent`, so a late or redelivered ack never moves one back.
 */
export async function applyCommandAck(db: Db, log: Logger, message: BusMessage): Promise<void> {
  const parsed = parseInternalMessage('deviceEvent', message.payload);
  if (!parsed.ok) {
    log.warn({ error: parsed.error }, 'device event dropped: malformed');
    return;
  }
  const { event, device_id: deviceId, received_at: receivedAt } = parsed.value;
  if (event.type !== 'command.ack') return;
  if (!uuid.test(event.command_id)) return;
  const from =
    event.status === 'accepted' ? ['sent' as const] : ['sent' as const, 'accepted' as const];
  await db
    .updateTable('device_commands')
    .set({ status: event.status, acked_at: new Date(receivedAt), detail: event.detail ?? null })
    .where('id', '=', event.command_id)
    .where('device_id', '=', deviceId)
    .where('status', 'in', from)
    .execute();
}

/** Subscribes to device events as a member of the api's shared group; a failed update is redelivered. */
export function subscribeCommandAcks(deps: {
  bus: Bus;
  db: Db;
  log: Logger;
}): Promise<Subscription> {
  return deps.bus.subscribe(
    internalTopics.deviceEvent,
    (message) => applyCommandAck(deps.db, deps.log, message),
    { qos: 1, group: commandAckGroup },
  );
}
