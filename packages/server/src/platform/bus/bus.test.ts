import { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe } from 'vitest';
import { openBrokerAccess } from '../../../test/support/open-broker-access.js';
import { busContract } from './bus.contract.js';
import { silentLog, uniqueId } from './recorder.contract.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './embedded-broker.js';
import { MqttBus } from './mqtt-bus.js';
import { openBus } from './open-bus.js';

describe('embedded broker', () => {
  let broker: EmbeddedBroker;

  beforeAll(async () => {
    broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
      access: openBrokerAccess,
    });
  });

  afterAll(async () => {
    await broker.close();
  });

  busContract('embedded broker, in memory', (topicPrefix) =>
    MqttBus.connect({
      kind: 'embedded',
      topicPrefix,
      clientId: uniqueId('bus'),
      createClient: (options) => new MqttClient(() => broker.connect(), options),
      log: silentLog,
    }),
  );

  busContract('embedded broker, over TCP', async (topicPrefix) => {
    const [url] = broker.listeners;
    const opened = await openBus({
      url,
      topicPrefix,
      host: '',
      port: 0,
      wsPort: 0,
      log: silentLog,
    });
    return opened.bus;
  });
});

const externalUrl = process.env['FLOCK_TEST_MQTT_URL'];

describe.skipIf(externalUrl === undefined)('external broker', () => {
  busContract(`external broker at ${externalUrl}`, async (topicPrefix) => {
    const opened = await openBus({
      url: externalUrl,
      topicPrefix,
      host: '',
      port: 0,
      wsPort: 0,
      log: silentLog,
    });
    return opened.bus;
  });
});
