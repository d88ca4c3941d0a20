import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import type { BrokerAccess } from './broker-access.js';
import type { Bus, BusMessage } from './bus.js';
import type { EmbeddedBroker } from './embedded-broker.js';
import { openBus } from './open-bus.js';
import { silentLog, uniqueId, uniquePrefix } from './recorder.contract.js';

/** TCP clients are devices named by their client id, except `…-member-…` ones, which are Flock processes. */
const deviceAccess: BrokerAccess = {
  authenticate: async ({ clientId, inProcess }) =>
    inProcess || clientId.includes('-member-')
      ? { kind: 'service' }
      : { kind: 'device', deviceId: clientId, expiresAt: new Date(Date.now() + 3600_000) },
  registeredDevices: async (deviceIds) => new Set(deviceIds),
};

const clients: MqttClient[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  for (const close of closers.splice(0).reverse()) await close();
});

interface Embedded {
  bus: Bus;
  broker: EmbeddedBroker;
  url: string;
  prefix: string;
}

async function openEmbedded(): Promise<Embedded> {
  const prefix = uniquePrefix();
  const opened = await openBus({
    topicPrefix: prefix,
    host: '127.0.0.1',
    port: 0,
    wsPort: 0,
    log: silentLog,
    access: deviceAccess,
  });
  closers.push(() => opened.bus.close());
  return { bus: opened.bus, broker: opened.broker!, url: opened.listeners[0] ?? '', prefix };
}

async function client(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const connected = await connectAsync(url, {
    protocolVersion: 4,
    clientId: uniqueId('device'),
    reconnectPeriod: 0,
    ...options,
  });
  // A broker that gives up on a publish drops the connection; tests look at that.
  connected.on('error', () => undefined);
  clients.push(connected);
  return connected;
}

/** Publishes QoS 1 and tells, at any time, whether the PUBACK came. */
function publish(device: MqttClient, topic: string, payload: string): { acked: () => boolean } {
  let acked = false;
  device.publish(topic, payload, { qos: 1 }, (error) => {
    if (!error) acked = true;
  });
  return { acked: () => acked };
}

/** A handler that holds each message until `release` is called with its payload. */
function gated() {
  const held = new Map<string, () => void>();
  return {
    held,
    handler: (message: BusMessage) =>
      new Promise<void>((resolve) => held.set(message.payload.toString(), resolve)),
    release(payload: string) {
      held.get(payload)?.();
    },
  };
}

describe('the embedded broker acknowledging device publishes', () => {
  it('acknowledges a device’s QoS 1 publish only once the group member handled it, without holding back others', async () => {
    const { bus, url, prefix } = await openEmbedded();
    const slow = gated();
    await bus.subscribe('devices/+/state', slow.handler, { qos: 1, group: 'store' });
    await bus.subscribe('devices/+/events', () => undefined, { qos: 1, group: 'store' });
    const device = await client(url);
    const topic = (channel: string) => `${prefix}devices/${device.options.clientId}/${channel}`;

    const state = publish(device, topic('state'), 'state');
    const event = publish(device, topic('events'), 'event');
    // One connection: had the broker acknowledged the state at once, as
    // aedes does by itself, that PUBACK would have come first.
    await waitFor(() => event.acked() && slow.held.has('state'));
    expect(state.acked()).toBe(false);

    slow.release('state');
    await waitFor(() => state.acked(), { message: 'the state acknowledged once handled' });
  });

  it('lets many devices’ messages reach a batching member at once', async () => {
    const { bus, url, prefix } = await openEmbedded();
    const batch: (() => void)[] = [];
    const batchSize = 20;
    await bus.subscribe(
      'devices/+/logs',
      () =>
        new Promise<void>((resolve) => {
          batch.push(resolve);
          // Written as one batch: nothing resolves before every message is in.
          if (batch.length === batchSize) for (const done of batch) done();
        }),
      { qos: 1, group: 'store', members: 2 },
    );
    const devices = await Promise.all(Array.from({ length: batchSize / 2 }, () => client(url)));
    const sent = devices.flatMap((device) =>
      ['a', 'b'].map((payload) =>
        publish(device, `${prefix}devices/${device.options.clientId}/logs`, payload),
      ),
    );
    await waitFor(() => sent.every((s) => s.acked()), { message: 'the whole batch acknowledged' });
  });

  it('acknowledges at once what no group takes, and what a QoS 0 member takes', async () => {
    const { bus, url, prefix } = await openEmbedded();
    const never = gated();
    await bus.subscribe('devices/+/telemetry', never.handler, { qos: 0, group: 'store' });
    const device = await client(url);
    const telemetry = publish(device, `${prefix}devices/${device.options.clientId}/telemetry`, 't');
    const logs = publish(device, `${prefix}devices/${device.options.clientId}/logs`, 'l');
    await waitFor(() => telemetry.acked() && logs.acked() && never.held.has('t'));
  });

  it('leaves a publish unacknowledged, and drops its device, when the member leaves without acknowledging', async () => {
    const { url, prefix } = await openEmbedded();
    const member = await client(url, { clientId: uniqueId('member'), clean: false });
    const received: string[] = [];
    // mqtt.js acknowledges when this calls back; this member never does.
    member.handleMessage = (packet) => void received.push(String(packet.payload));
    await member.subscribeAsync(`$share/store/${prefix}devices/+/state`, { qos: 1 });
    const device = await client(url);
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));

    const state = publish(device, `${prefix}devices/${device.options.clientId}/state`, 'state');
    await waitFor(() => received.includes('state'));
    await member.endAsync(true);
    await closed;
    expect(state.acked()).toBe(false);
  });

  it('takes no device publish once quiesced, and waits for those it routed', async () => {
    const { bus, broker, url, prefix } = await openEmbedded();
    const slow = gated();
    await bus.subscribe('devices/+/state', slow.handler, { qos: 1, group: 'store' });
    const device = await client(url);
    const topic = `${prefix}devices/${device.options.clientId}/state`;
    const first = publish(device, topic, 'first');
    await waitFor(() => slow.held.has('first'));

    let quiesced = false;
    const quiescing = broker.quiesce(10_000).then(() => (quiesced = true));
    const second = publish(device, topic, 'second');
    await expect(client(url)).rejects.toMatchObject({ code: 3 });
    expect(quiesced).toBe(false);
    slow.release('first');
    await quiescing;
    await waitFor(() => first.acked());
    await broker.close();
    expect(second.acked()).toBe(false);
    expect([...slow.held.keys()]).toEqual(['first']);
  });
});
