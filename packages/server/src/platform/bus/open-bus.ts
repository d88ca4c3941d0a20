import { randomBytes } from 'node:crypto';
import { connect, MqttClient } from 'mqtt';
import type { Logger } from '../log/create-logger.js';
import type { BrokerAccess } from './broker-access.js';
import type { Bus } from './bus.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './embedded-broker.js';
import { MqttBus } from './mqtt-bus.js';
import { redactUrl } from './redact-url.js';

export interface OpenBusOptions {
  /** An external broker (mqtt:, mqtts:, ws:, wss:); undefined embeds one. */
  url?: string;
  topicPrefix: string;
  /** Where the embedded broker listens. */
  host: string;
  port: number;
  wsPort: number;
  /** Defaults to a random `flock-…` id; must be unique among the broker's clients. */
  clientId?: string;
  /** Shared subscription groups keep persistent sessions; only with a `clientId` stable across restarts. */
  persistentGroups?: boolean;
  log: Logger;
  connectTimeoutMs?: number;
  /** Who the embedded broker admits besides this bus; by default nobody. */
  access?: BrokerAccess;
  /** How often the embedded broker re-checks connected devices. */
  sweepIntervalMs?: number;
  /** The embedded broker refuses devices until `broker.admit()`. */
  admitDevicesLater?: boolean;
  /** Sent to an external broker whose URL names no user. */
  credentials?: { username: string; password: string };
}

export interface OpenedBus {
  bus: Bus;
  /** The embedded broker's URLs for devices; empty with an external broker. */
  listeners: string[];
  /** The embedded broker; undefined with an external one. */
  broker: EmbeddedBroker | undefined;
}

/**
 * Connects to the configured broker, or starts the embedded one and connects
 * to it. The embedded bus reaches its broker through an in-memory stream
 * rather than loopback TCP: it needs no route to `host` (which may be an
 * address the process cannot dial, or 0.0.0.0), takes no port, and still runs
 * the very same mqtt.js client code as with an external broker, so one
 * contract suite covers both.
 *
 * Embedded, the group connections always keep persistent sessions: those
 * live and die with the broker in this very process, so none outlives its
 * bus, and they are how the broker learns that a member acknowledged a
 * device's message (docs/decisions/0320-embedded-broker-acknowledges-after-store.md).
 */
export async function openBus(options: OpenBusOptions): Promise<OpenedBus> {
  const clientId = options.clientId ?? `flock-${randomBytes(6).toString('hex')}`;
  const common = {
    topicPrefix: options.topicPrefix,
    clientId,
    log: options.log,
    connectTimeoutMs: options.connectTimeoutMs,
    persistentGroups: options.clientId !== undefined && options.persistentGroups === true,
  };
  const { url } = options;
  if (url !== undefined) {
    const credentials = new URL(url).username === '' ? options.credentials : undefined;
    try {
      const bus = await MqttBus.connect({
        ...common,
        kind: 'mqtt',
        createClient: (clientOptions) => connect(url, { ...clientOptions, ...credentials }),
      });
      return { bus, listeners: [], broker: undefined };
    } catch (error) {
      throw new Error(`cannot connect to the MQTT broker at ${redactUrl(url)}`, { cause: error });
    }
  }

  const broker = await startEmbeddedBroker({
    host: options.host,
    port: options.port,
    wsPort: options.wsPort,
    log: options.log,
    topicPrefix: options.topicPrefix,
    access: options.access,
    sweepIntervalMs: options.sweepIntervalMs,
    admitLater: options.admitDevicesLater,
  });
  try {
    const bus = await MqttBus.connect({
      ...common,
      persistentGroups: true,
      kind: 'embedded',
      createClient: (clientOptions) => new MqttClient(() => broker.connect(), clientOptions),
      onClose: () => broker.close(),
    });
    return { bus, listeners: [...broker.listeners], broker };
  } catch (error) {
    await broker.close();
    throw new Error('cannot connect to the embedded MQTT broker', { cause: error });
  }
}
