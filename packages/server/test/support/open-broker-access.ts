import type { BrokerAccess } from '../../src/platform/bus/broker-access.js';

/**
 * Admits every client as a Flock process, with no credentials: for tests of
 * the broker's plumbing (delivery, shared subscriptions, reconnects), never
 * for what devices may do.
 */
export const openBrokerAccess: BrokerAccess = {
  authenticate: async () => ({ kind: 'service' }),
  registeredDevices: async () => new Set(),
};
