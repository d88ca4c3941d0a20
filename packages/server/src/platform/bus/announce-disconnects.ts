import { type ClientDisconnectedMessage, internalTopics } from '@flock/protocol';
import type { Aedes } from 'aedes';
import type { Logger } from '../log/create-logger.js';

/** How long a reconnecting client has to come back before its disconnect counts. */
export const takeoverGraceMs = 250;

/**
 * Tells the ingester at once when an MQTT connection of the embedded broker
 * ends, rather than after the heartbeat timeout (docs/ingester.md; an
 * external broker can be configured to do the same). Devices connect with
 * their id as client id, which the broker enforces. A client replaced by a
 * new connection with its id, as a reconnecting device is, is not reported.
 */
export function announceDisconnects(aedes: Aedes, topicPrefix: string, log: Logger): () => void {
  const connected = new Map<string, number>();
  const pending = new Set<NodeJS.Timeout>();
  const topic = topicPrefix + internalTopics.clientDisconnected;
  aedes.on('client', (client) => connected.set(client.id, (connected.get(client.id) ?? 0) + 1));
  aedes.on('clientDisconnect', (client) => {
    const left = (connected.get(client.id) ?? 1) - 1;
    if (left > 0) connected.set(client.id, left);
    else connected.delete(client.id);
    if (aedes.closed) return;
    const timer = setTimeout(() => {
      pending.delete(timer);
      if (aedes.closed || connected.has(client.id)) return;
      // Stamped now, not at the close: the ingester stamps a message when it
      // handles it, so the old connection's last message can carry a time
      // after the close, and a disconnect older than it would be ignored.
      // No connection with this id exists now, so nothing newer is missed.
      const message: ClientDisconnectedMessage = {
        v: 1,
        client_id: client.id,
        at: new Date().toISOString(),
      };
      aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload: Buffer.from(JSON.stringify(message)),
          qos: 1,
          retain: false,
          dup: false,
        },
        (error) => {
          if (error) log.debug({ err: error, clientId: client.id }, 'cannot announce a disconnect');
        },
      );
    }, takeoverGraceMs);
    timer.unref();
    pending.add(timer);
  });
  return () => {
    for (const timer of pending) clearTimeout(timer);
    pending.clear();
  };
}
