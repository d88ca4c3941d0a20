import { type Duplex, duplexPair } from 'node:stream';
import { Aedes } from 'aedes';
import { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import { Recorder, silentLog, uniqueId } from './recorder.contract.js';
import { MqttBus } from './mqtt-bus.js';

// A bare aedes, so the test can watch the PUBACKs and cut the connection.
describe('MqttBus', () => {
  let aedes: Aedes;
  let brokerSides: Duplex[];
  let bus: MqttBus;
  let acks: number;

  beforeEach(async () => {
    aedes = await Aedes.createBroker();
    brokerSides = [];
    acks = 0;
    aedes.on('ack', () => {
      acks += 1;
    });
    bus = await MqttBus.connect({
      kind: 'embedded',
      topicPrefix: 'p/',
      clientId: uniqueId('bus'),
      log: silentLog,
      createClient: (options) =>
        new MqttClient(() => {
          const [clientSide, brokerSide] = duplexPair();
          clientSide.once('close', () => brokerSide.destroy());
          brokerSide.once('close', () => clientSide.destroy());
          brokerSides.push(brokerSide);
          aedes.handle(brokerSide);
          return clientSide;
        }, options),
    });
  });

  afterEach(async () => {
    await bus.close();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  });

  function publishFromBroker(topic: string, payload: string): void {
    aedes.publish(
      { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false },
      () => undefined,
    );
  }

  it('acknowledges a QoS 1 message only once its handler resolves, without holding back others', async () => {
    let release: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    await bus.subscribe(
      'slow',
      async () => {
        started = true;
        await slow;
      },
      { qos: 1 },
    );
    const quick = new Recorder();
    await bus.subscribe('quick', quick.handler, { qos: 1 });

    publishFromBroker('p/slow', 'a');
    await waitFor(() => started);
    publishFromBroker('p/quick', 'b');
    await waitFor(() => acks === 1);
    expect(quick.payloads).toEqual(['b']);

    release();
    await waitFor(() => acks === 2);
  });

  it('acknowledges a message whose handler failed', async () => {
    await bus.subscribe('fails', () => Promise.reject(new Error('handler failed')), { qos: 1 });
    publishFromBroker('p/fails', 'a');
    await waitFor(() => acks === 1);
  });

  it('ignores messages outside its prefix', async () => {
    const received = new Recorder();
    await bus.subscribe('#', received.handler, { qos: 1 });
    publishFromBroker('q/outside', 'no');
    publishFromBroker('p/inside', 'yes');
    await waitFor(() => received.payloads.includes('yes'));
    expect(received.messages.map((message) => message.topic)).toEqual(['inside']);
  });

  it('reconnects and subscribes again after the connection drops, and pings meanwhile fail', async () => {
    const received = new Recorder();
    await bus.subscribe('jobs/+', received.handler, { qos: 1 });
    await bus.subscribe('jobs/+', new Recorder().handler, { qos: 0, group: 'workers' });
    await expect(bus.ping()).resolves.toBeUndefined();

    for (const side of brokerSides.splice(0)) side.destroy();
    await waitFor(
      async () =>
        bus.ping().then(
          () => false,
          () => true,
        ),
      { message: 'ping failing' },
    );
    await waitFor(() => bus.ping().then(() => true), {
      timeoutMs: 10_000,
      message: 'the bus reconnecting',
    });

    await waitFor(
      async () => {
        await bus.publish('jobs/1', 'after', { qos: 1 });
        return received.payloads.includes('after');
      },
      { message: 'a message after the reconnect' },
    );
  });

  it('fails a publish that is still waiting for its PUBACK when the bus closes', async () => {
    for (const side of brokerSides.splice(0)) side.destroy();
    await waitFor(async () =>
      bus.ping().then(
        () => false,
        () => true,
      ),
    );
    const pending = bus.publish('jobs/1', 'never', { qos: 1 });
    await bus.close();
    await expect(pending).rejects.toThrow(/cannot publish/);
  });
});
