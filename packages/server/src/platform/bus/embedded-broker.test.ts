import { connect as connectTcp } from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { openBrokerAccess } from '../../../test/support/open-broker-access.js';
import { waitFor } from '../../../test/support/wait-for.js';
import type { Bus } from './bus.js';
import { Recorder, silentLog, uniqueId, uniquePrefix } from './recorder.contract.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './embedded-broker.js';
import { openBus } from './open-bus.js';

const devices: MqttClient[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(devices.splice(0).map((device) => device.endAsync(true)));
  for (const close of closers.splice(0).reverse()) await close();
});

async function device(url: string): Promise<MqttClient> {
  const client = await connectAsync(url, {
    protocolVersion: 4,
    clientId: uniqueId('device'),
    reconnectPeriod: 0,
  });
  devices.push(client);
  return client;
}

function messages(client: MqttClient): { topic: string; payload: string }[] {
  const received: { topic: string; payload: string }[] = [];
  client.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  return received;
}

describe('openBus without a URL', () => {
  async function openEmbedded(): Promise<{ bus: Bus; listeners: string[]; prefix: string }> {
    const prefix = uniquePrefix();
    const opened = await openBus({
      topicPrefix: prefix,
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
      access: openBrokerAccess,
    });
    closers.push(() => opened.bus.close());
    return { ...opened, prefix };
  }

  it('embeds a broker that listens on TCP and WebSocket', async () => {
    const { bus, listeners } = await openEmbedded();
    expect(bus.kind).toBe('embedded');
    expect(listeners).toEqual([
      expect.stringMatching(/^mqtt:\/\/127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+$/),
    ]);
  });

  it.each([0, 1] as const)(
    'exchanges messages with devices over TCP and WebSocket (listener %i)',
    async (which) => {
      const { bus, listeners, prefix } = await openEmbedded();
      const url = listeners[which] ?? '';
      const reports = new Recorder();
      await bus.subscribe('devices/+/state', reports.handler, { qos: 1 });
      const client = await device(url);
      const received = messages(client);
      await client.subscribeAsync(`${prefix}devices/d1/desired`, { qos: 1 });

      await client.publishAsync(`${prefix}devices/d1/state`, 'running', { qos: 1 });
      await waitFor(() => reports.payloads.includes('running'));
      expect(reports.messages[0]?.topic).toBe('devices/d1/state');

      await bus.publish('devices/d1/desired', 'v2', { qos: 1 });
      await waitFor(() => received.length === 1);
      expect(received).toEqual([{ topic: `${prefix}devices/d1/desired`, payload: 'v2' }]);
    },
  );

  it('closes its broker and listeners when the bus closes', async () => {
    const { bus, listeners } = await openEmbedded();
    await bus.close();
    const port = Number(new URL(listeners[0] ?? '').port);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connectTcp({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('refuses a port that is taken, saying so', async () => {
    const { listeners } = await openEmbedded();
    const port = Number(new URL(listeners[0] ?? '').port);
    const clash = openBus({ topicPrefix: '', host: '127.0.0.1', port, wsPort: 0, log: silentLog });
    await expect(clash).rejects.toThrow(/cannot listen/);
  });
});

describe('openBus with a URL', () => {
  it('gives up after its connect timeout, naming the broker but not the password', async () => {
    const { port } = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
    }).then(async (broker) => {
      await broker.close();
      return new URL(broker.listeners[0] ?? '');
    });
    const url = `mqtt://flock:hunter2@127.0.0.1:${port}`;
    const opening = openBus({
      url,
      topicPrefix: '',
      host: '',
      port: 0,
      wsPort: 0,
      log: silentLog,
      connectTimeoutMs: 300,
    });
    await expect(opening).rejects.toThrow(
      `cannot connect to the MQTT broker at mqtt://flock:***@127.0.0.1:${port}`,
    );
    await expect(opening).rejects.toSatisfy(
      (error: Error) => !String(error.message).includes('hunter2'),
    );
  });
});

describe('shared subscriptions in the embedded broker', () => {
  async function start(): Promise<EmbeddedBroker> {
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
      access: openBrokerAccess,
    });
    closers.push(() => broker.close());
    return broker;
  }

  it('serves devices that use $share themselves', async () => {
    const broker = await start();
    const url = broker.listeners[0] ?? '';
    const [a, b, publisher] = [await device(url), await device(url), await device(url)];
    const [fromA, fromB] = [messages(a), messages(b)];
    await a.subscribeAsync('$share/g/jobs/#', { qos: 1 });
    await b.subscribeAsync('$share/g/jobs/#', { qos: 1 });
    for (let i = 0; i < 10; i++) await publisher.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
    await waitFor(() => fromA.length + fromB.length === 10);
    expect(fromA.length).toBe(5);
    expect(fromB.map((message) => message.topic)).toContain('jobs/1');
  });

  it('forgets members that unsubscribe or disconnect', async () => {
    const broker = await start();
    const url = broker.listeners[0] ?? '';
    const [a, b] = [await device(url), await device(url)];
    await a.subscribeAsync(['$share/g/jobs/#', '$share/h/jobs/#'], { qos: 1 });
    await b.subscribeAsync('$share/g/jobs/#', { qos: 0 });
    expect(broker.sharedGroups()).toEqual(
      new Map([
        ['$share/g/jobs/#', 2],
        ['$share/h/jobs/#', 1],
      ]),
    );
    await a.unsubscribeAsync('$share/h/jobs/#');
    expect(broker.sharedGroups()).toEqual(new Map([['$share/g/jobs/#', 2]]));
    await b.endAsync();
    await waitFor(() => broker.sharedGroups().get('$share/g/jobs/#') === 1);
  });

  it('refuses a malformed $share subscription and any publish to $share', async () => {
    const broker = await start();
    const url = broker.listeners[0] ?? '';
    const client = await device(url);
    await expect(client.subscribeAsync('$share/+/jobs', { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    const watcher = await device(url);
    const seen = messages(watcher);
    await watcher.subscribeAsync(['#', '$share/g/#'], { qos: 1 });
    client.publish('$share/g/jobs', 'sneaky', { qos: 0 });
    await waitFor(() => client.connected === false, {
      message: 'the broker dropping the publisher',
    });
    await (await device(url)).publishAsync('jobs', 'fine', { qos: 1 });
    await waitFor(() => seen.length === 2);
    expect(seen.map((message) => message.payload)).toEqual(['fine', 'fine']);
  });
});
