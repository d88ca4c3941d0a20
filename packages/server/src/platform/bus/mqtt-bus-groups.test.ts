import { connect, MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import type { Bus } from './bus.js';
import { startEmbeddedBroker } from './embedded-broker.js';
import { MqttBus } from './mqtt-bus.js';
import {
  publishAll,
  Recorder,
  sequence,
  silentLog,
  uniqueId,
  uniquePrefix,
} from './recorder.contract.js';

const mqttUrl = process.env.FLOCK_TEST_MQTT_URL;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe('a group joined with several members', () => {
  it('opens a connection per member and splits the messages between them, each once', async () => {
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
    });
    closers.push(() => broker.close());
    const open = async (): Promise<Bus> => {
      const bus = await MqttBus.connect({
        kind: 'embedded',
        topicPrefix: 'p/',
        clientId: uniqueId('bus'),
        log: silentLog,
        createClient: (options) => new MqttClient(() => broker.connect(), options),
      });
      closers.push(() => bus.close());
      return bus;
    };
    const [publisher, subscriber] = [await open(), await open()];
    const received = new Recorder();
    const subscription = await subscriber.subscribe('jobs/+', received.handler, {
      qos: 1,
      group: 'workers',
      members: 3,
    });
    expect(broker.sharedGroups().get('$share/workers/p/jobs/+')).toBe(3);
    await publishAll(publisher, (n) => `jobs/${n}`, sequence(60));
    await waitFor(() => received.messages.length === 60);
    expect(received.payloads.sort()).toEqual(sequence(60).sort());

    await subscription.unsubscribe();
    await waitFor(() => broker.sharedGroups().get('$share/workers/p/jobs/+') === undefined);
  });

  it('refuses members without a group, or fewer than one', async () => {
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
    });
    closers.push(() => broker.close());
    const bus = await MqttBus.connect({
      kind: 'embedded',
      topicPrefix: 'p/',
      clientId: uniqueId('bus'),
      log: silentLog,
      createClient: (options) => new MqttClient(() => broker.connect(), options),
    });
    closers.push(() => bus.close());
    await expect(bus.subscribe('a', () => undefined, { members: 2 })).rejects.toThrow(/members/);
    await expect(bus.subscribe('a', () => undefined, { group: 'g', members: 0 })).rejects.toThrow(
      /members/,
    );
  });
});

describe.skipIf(mqttUrl === undefined)('persistent group sessions on an external broker', () => {
  it('keeps the QoS 1 messages of a stopped member for it until it comes back', async () => {
    const url = mqttUrl ?? '';
    const prefix = uniquePrefix();
    const clientId = uniqueId('persistent');
    const open = (persistentGroups: boolean) =>
      MqttBus.connect({
        kind: 'mqtt',
        topicPrefix: prefix,
        clientId,
        persistentGroups,
        log: silentLog,
        createClient: (options) => connect(url, options),
      });
    const publisher = await MqttBus.connect({
      kind: 'mqtt',
      topicPrefix: prefix,
      clientId: uniqueId('publisher'),
      log: silentLog,
      createClient: (options) => connect(url, options),
    });
    closers.push(() => publisher.close());
    // Ends the group's session at the broker, which a clean connection does.
    closers.push(async () => {
      const cleaner = connect(url, { clientId: `${clientId}-workers-1`, clean: true });
      await new Promise((resolve) => cleaner.once('connect', resolve));
      await cleaner.endAsync();
    });

    const first = new Recorder();
    const member = await open(true);
    await member.subscribe('jobs/+', first.handler, { qos: 1, group: 'workers' });
    await publisher.publish('jobs/0', 'before', { qos: 1 });
    await waitFor(() => first.payloads.includes('before'));
    await member.close();

    await publishAll(publisher, (n) => `jobs/${n}`, sequence(20));
    const second = new Recorder();
    const returned = await open(true);
    closers.push(() => returned.close());
    await returned.subscribe('jobs/+', second.handler, { qos: 1, group: 'workers' });
    await waitFor(() => second.messages.length === 20, {
      message: 'the messages kept while the member was away',
    });
    expect(second.payloads.sort()).toEqual(sequence(20).sort());
  });
});
