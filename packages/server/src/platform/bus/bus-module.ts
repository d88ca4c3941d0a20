import type { ModuleDefinition } from '../../app/module.js';
import { createDeviceTokens } from '../auth/create-device-tokens.js';
import { loadSecretKey } from '../crypto/load-secret-key.js';
import { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/database.js';
import type { Bus, Subscription } from './bus.js';
import { disconnectDeregisteredDevices } from './disconnect-deregistered-devices.js';
import { FlockBrokerAccess } from './flock-broker-access.js';
import { openBus } from './open-bus.js';
import { redactUrl } from './redact-url.js';
import { servicePassword, serviceUsername } from './service-credential.js';

/** How long a stop waits for device publishes already routed to be stored. */
const quiesceTimeoutMs = 5_000;

/**
 * The bus, and with no MQTT_URL the embedded broker. It needs the database
 * whether or not it embeds the broker, because the graph never changes with
 * configuration: the embedded broker checks device tokens against it
 * (docs/decisions/0300-broker-authentication.md).
 */
export const busModule: ModuleDefinition<Bus, { db: Database }> = {
  async init({ config, log }, { db }) {
    const secretKey = await loadSecretKey(config.secretKey, config.dataDir);
    const password = servicePassword(config.mqttServicePassword, secretKey);
    let access: FlockBrokerAccess | undefined;
    if (config.mqttUrl === undefined) {
      const box = new SecretBox(secretKey);
      const { deviceTokens } = await createDeviceTokens({ db: db.db, box, config });
      access = new FlockBrokerAccess({
        devices: deviceTokens,
        db: db.db,
        servicePassword: password,
      });
    }

    const { bus, listeners, broker } = await openBus({
      url: config.mqttUrl,
      topicPrefix: config.mqttTopicPrefix,
      host: config.host,
      port: config.mqttPort,
      wsPort: config.mqttWsPort,
      log: log.child({ module: 'bus' }),
      // A stable id lets the broker keep what it owes this process while it restarts.
      ...(config.mqttClientId === undefined
        ? {}
        : { clientId: config.mqttClientId, persistentGroups: true }),
      access,
      credentials: { username: serviceUsername, password },
      admitDevicesLater: true,
    });
    let deregistrations: Subscription | undefined;
    try {
      if (broker !== undefined) {
        deregistrations = await disconnectDeregisteredDevices(bus, broker, log);
      }
    } catch (error) {
      await bus.close();
      throw error;
    }
    if (config.mqttUrl !== undefined) {
      const url = redactUrl(config.mqttUrl);
      log.info({ url }, `MQTT connected to ${url}`);
    }
    for (const url of listeners) {
      const what = url.startsWith('ws') ? 'MQTT over WebSocket' : 'MQTT';
      log.info({ url }, `${what} listening on ${url}`);
    }
    return {
      exports: bus,
      ready: () => bus.ping(),
      // Devices come in once the ingester listens, and their publishes stop
      // before it leaves: none is acknowledged with nobody there to store it.
      open: async () => broker?.admit(),
      quiesce: async () => broker?.quiesce(quiesceTimeoutMs),
      async stop() {
        await deregistrations?.unsubscribe().catch(() => undefined);
        await bus.close();
      },
    };
  },
};
