import { internalTopics } from '@flock/protocol';
import type { Logger } from '../log/create-logger.js';
import type { Bus, Subscription } from './bus.js';
import type { EmbeddedBroker } from './embedded-broker.js';

/**
 * Disconnects a device from the embedded broker as soon as its
 * deregistration is announced, rather than at the broker's next sweep.
 */
export function disconnectDeregisteredDevices(
  bus: Bus,
  broker: Pick<EmbeddedBroker, 'disconnectDevice'>,
  log: Logger,
): Promise<Subscription> {
  return bus.subscribe(
    internalTopics.audit,
    (message) => {
      let event: unknown;
      try {
        event = JSON.parse(message.payload.toString('utf8'));
      } catch {
        log.warn({ topic: message.topic }, 'ignored an audit announcement that is not JSON');
        return;
      }
      if (
        typeof event === 'object' &&
        event !== null &&
        'action' in event &&
        event.action === 'device.deregistered' &&
        'resourceId' in event &&
        typeof event.resourceId === 'string'
      ) {
        broker.disconnectDevice(event.resourceId);
      }
    },
    { qos: 1 },
  );
}
