import type { ModuleDefinition } from '../../app/module.js';
import type { Bus } from './bus.js';
import { openBus } from './open-bus.js';
import { redactUrl } from './redact-url.js';

export const busModule: ModuleDefinition<Bus, Record<string, never>> = {
  async init({ config, log }) {
    const { bus, listeners } = await openBus({
      url: config.mqttUrl,
      topicPrefix: config.mqttTopicPrefix,
      host: config.host,
      port: config.mqttPort,
      wsPort: config.mqttWsPort,
      log: log.child({ module: 'bus' }),
    });
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
      stop: () => bus.close(),
    };
  },
};
