import { deviceDownlinks, deviceUplinks } from '@flock/protocol';
import type { BrokerPrincipal } from './broker-access.js';

/**
 * What a broker client may publish, subscribe to and receive. A device
 * touches only its own `devices/{id}/` topics, each named exactly: no
 * wildcards, nothing under `flock/`, no `$share` or `$SYS`. Flock processes
 * may touch everything.
 */
export class BrokerAcl {
  constructor(private readonly topicPrefix: string) {}

  mayPublish(principal: BrokerPrincipal, topic: string): boolean {
    if (principal.kind === 'service') return true;
    return this.#ownTopics(principal.deviceId, deviceUplinks).includes(topic);
  }

  maySubscribe(principal: BrokerPrincipal, filter: string): boolean {
    if (principal.kind === 'service') return true;
    return this.#ownTopics(principal.deviceId, deviceDownlinks).includes(filter);
  }

  /** Whether a message on `topic` may be delivered to the client. */
  mayReceive(principal: BrokerPrincipal, topic: string): boolean {
    return this.maySubscribe(principal, topic);
  }

  #ownTopics(deviceId: string, channels: readonly string[]): string[] {
    // An id that is not a single plain topic level would turn the exact
    // topics below into filters matching other devices.
    if (!/^[^/+#$\s]+$/.test(deviceId)) return [];
    return channels.map((channel) => `${this.topicPrefix}devices/${deviceId}/${channel}`);
  }
}
