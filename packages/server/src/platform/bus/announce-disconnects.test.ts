import { internalTopics, parseInternalMessage } from '@flock/protocol';
import { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait-for.js';
import { takeoverGraceMs } from './announce-disconnects.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './embedded-broker.js';
import { MqttBus } from './mqtt-bus.js';
import { Recorder, silentLog, uniqueId } from './recorder.contract.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function connectClient(broker: EmbeddedBroker, clientId: string): Promise<MqttClient> {
  const client = new MqttClient(() => broker.connect(), {
    clientId,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  await new Promise((resolve) => client.once('connect', resolve));
  return client;
}

describe('announced disconnects', () => {
  it('publishes the client id of a connection that ended, unless it came straight back', async () => {
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
      topicPrefix: 'p/',
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
    const notices = new Recorder();
    await bus.subscribe(internalTopics.clientDisconnected, notices.handler, { qos: 1 });
    const ids = () =>
      notices.messages.map((m) => {
        const parsed = parseInternalMessage('clientDisconnected', m.payload);
        return parsed.ok ? parsed.value.client_id : 'invalid';
      });

    const first = await connectClient(broker, 'device-a');
    // The same id again: the broker drops the first connection for the second.
    const second = await connectClient(broker, 'device-a');
    await connectClient(broker, 'device-b').then((c) => c.endAsync());
    await waitFor(() => ids().includes('device-b'));
    expect(ids()).toEqual(['device-b']);

    await second.endAsync();
    first.end(true);
    await waitFor(() => ids().includes('device-a'));
    expect(ids()).toEqual(['device-b', 'device-a']);
  });

  it('dates the announcement when it is made, not at the close, so no message handled since the close is newer', async () => {
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
      topicPrefix: '',
    });
    closers.push(() => broker.close());
    const bus = await MqttBus.connect({
      kind: 'embedded',
      topicPrefix: '',
      clientId: uniqueId('bus'),
      log: silentLog,
      createClient: (options) => new MqttClient(() => broker.connect(), options),
    });
    closers.push(() => bus.close());
    const notices = new Recorder();
    await bus.subscribe(internalTopics.clientDisconnected, notices.handler, { qos: 1 });

    const device = await connectClient(broker, 'device-c');
    const closedAt = Date.now();
    device.end(true);
    await waitFor(() => notices.messages.length === 1);
    const parsed = parseInternalMessage('clientDisconnected', notices.messages[0]!.payload);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(Date.parse(parsed.value.at)).toBeGreaterThanOrEqual(closedAt + takeoverGraceMs);
  });
});
