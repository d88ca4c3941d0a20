import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closed,
  received,
  refusedSubscription,
  type SecuredBroker,
  startSecuredBroker,
  type TestDevice,
} from '../support/secured-broker.js';
import { waitFor } from '../support/wait-for.js';

let broker: SecuredBroker;

beforeAll(async () => {
  broker = await startSecuredBroker();
});
afterEach(async () => broker.endClients());
afterAll(async () => broker?.close());

describe('what a connected device may touch', () => {
  it('publishes its own uplinks and receives its own desired state and commands', async () => {
    const device = await broker.newDevice();
    const seen = await broker.backendSees(`devices/${device.id}/+`);
    const client = await broker.connectDevice(device);
    const inbox = received(client);
    const granted = await client.subscribeAsync(
      [`devices/${device.id}/desired`, `devices/${device.id}/commands`],
      { qos: 1 },
    );
    expect(granted.map((g) => g.qos)).toEqual([1, 1]);
    for (const channel of ['state', 'telemetry', 'logs', 'events']) {
      await client.publishAsync(`devices/${device.id}/${channel}`, channel, { qos: 1 });
    }
    await waitFor(() => seen.length === 4);
    await broker.opened.bus.publish(`devices/${device.id}/desired`, 'v2', { qos: 1, retain: true });
    await broker.opened.bus.publish(`devices/${device.id}/commands`, 'reboot', { qos: 1 });
    await waitFor(() => inbox.length === 2);
    expect(inbox.sort()).toEqual([
      `devices/${device.id}/commands reboot`,
      `devices/${device.id}/desired v2`,
    ]);
  });

  it.each([0, 1] as const)(
    "is disconnected for publishing to another device's topic (QoS %i), which nobody receives",
    async (qos) => {
      const [intruder, victim] = [await broker.newDevice(), await broker.newDevice()];
      const seen = await broker.backendSees(`devices/${victim.id}/state`);
      const client = await broker.connectDevice(intruder);
      client.publish(`devices/${victim.id}/state`, 'forged', { qos });
      expect(await closed(client)).toBe(true);
      const honest = await broker.connectDevice(victim);
      await honest.publishAsync(`devices/${victim.id}/state`, 'real', { qos: 1 });
      await waitFor(() => seen.length > 0);
      expect(seen).toEqual([`devices/${victim.id}/state real`]);
    },
  );

  it('is disconnected for publishing under flock/, which no Flock process receives', async () => {
    const device = await broker.newDevice();
    const seen = await broker.backendSees('flock/#');
    const client = await broker.connectDevice(device);
    client.publish('flock/internal/v1/audit', '{"action":"device.deregistered"}', { qos: 1 });
    expect(await closed(client)).toBe(true);
    await broker.opened.bus.publish('flock/internal/v1/probe', 'after', { qos: 1 });
    await waitFor(() => seen.length > 0);
    expect(seen).toEqual(['flock/internal/v1/probe after']);
  });

  it("cannot subscribe to another device's desired state, and never receives it", async () => {
    const [snoop, other] = [await broker.newDevice(), await broker.newDevice()];
    const client = await broker.connectDevice(snoop);
    const inbox = received(client);
    await expect(
      client.subscribeAsync(`devices/${other.id}/desired`, { qos: 1 }),
    ).rejects.toMatchObject(refusedSubscription);
    expect(client.connected).toBe(true);
    await broker.opened.bus.publish(`devices/${other.id}/desired`, 'secret', {
      qos: 1,
      retain: true,
    });
    await client.subscribeAsync(`devices/${snoop.id}/commands`, { qos: 1 });
    await broker.opened.bus.publish(`devices/${snoop.id}/commands`, 'mine', { qos: 1 });
    await waitFor(() => inbox.length > 0);
    expect(inbox).toEqual([`devices/${snoop.id}/commands mine`]);
  });

  it.each([
    'flock/#',
    '#',
    'devices/+/state',
    'devices/+/desired',
    '$SYS/#',
    '$share/g/devices/+/state',
  ])('cannot subscribe to %s', async (filter) => {
    const client = await broker.connectDevice(await broker.newDevice());
    await expect(client.subscribeAsync(filter, { qos: 1 })).rejects.toMatchObject(
      refusedSubscription,
    );
  });

  it('cannot use its own topics through $share either', async () => {
    const device = await broker.newDevice();
    const client = await broker.connectDevice(device);
    const shared = `$share/g/devices/${device.id}/desired`;
    await expect(client.subscribeAsync(shared)).rejects.toMatchObject(refusedSubscription);
    expect(broker.opened.broker?.sharedGroups().has(shared)).toBe(false);
  });

  it("leaves a will on its own topics but not on another device's", async () => {
    const [honest, forger, victim] = [
      await broker.newDevice(),
      await broker.newDevice(),
      await broker.newDevice(),
    ];
    const seen = await broker.backendSees('devices/+/events');
    const will = (device: TestDevice) => ({
      topic: `devices/${device.id}/events`,
      payload: Buffer.from('gone'),
      qos: 1 as const,
      retain: false,
    });
    const dying = [
      await broker.connectDevice(honest, { will: will(honest) }),
      await broker.connectDevice(forger, { will: will(victim) }),
    ];
    // Dropping the connection without DISCONNECT is what makes a broker send the will.
    for (const client of dying) client.stream.destroy();
    await waitFor(() => seen.length > 0);
    await broker.opened.bus.publish('devices/x/events', 'marker', { qos: 1 });
    await waitFor(() => seen.includes('devices/x/events marker'));
    expect(seen).toEqual([`devices/${honest.id}/events gone`, 'devices/x/events marker']);
  });
});
