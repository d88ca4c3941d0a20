import {
  deviceDownlinks,
  deviceTopic,
  type DeviceDownlink,
  type DeviceUplink,
} from '@flock/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff } from '../support/backoff.js';
import { errorMessage } from '../support/error-message.js';
import { Wakeup } from '../support/wakeup.js';

export type ClientFactory = (url: string, options: IClientOptions) => MqttClient;

export interface MqttSessionOptions {
  url: string;
  deviceId: string;
  /** Read at every connection attempt, so a reconnect uses the freshest token. */
  token: () => string;
  /**
   * The installation's topic prefix, read at every connection attempt like
   * the token; the session's topics keep the prefix they connected with.
   */
  topicPrefix: () => string;
  tls: { ca?: string | undefined; rejectUnauthorized: boolean };
  log: Logger;
  reconnect?: { initialMs: number; maxMs: number };
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  onMessage: (channel: DeviceDownlink, payload: Buffer) => void;
  onConnected?: () => void;
  onDisconnected?: () => void;
  /**
   * The broker refused the credentials or the device's own topics: the token
   * may have expired offline, or the installation's topic prefix moved.
   */
  onAuthRefused?: () => void;
  createClient?: ClientFactory;
}

/** CONNACK return codes of MQTT 3.1.1 meaning "bad credentials". */
const refusedCredentials = new Set([4, 5]);

/**
 * One MQTT 3.1.1 session at a time. mqtt.js's own reconnect retries at a
 * fixed period, so a fleet that lost its broker would come back in lockstep;
 * here every attempt is a new client after an exponential, jittered delay.
 */
export class MqttSession {
  readonly #options: MqttSessionOptions;
  readonly #retryNow = new Wakeup();
  #client: MqttClient | undefined;
  #connected = false;
  /** The prefix of the current client's topics. */
  #topicPrefix = '';
  /** Rejecters of publishes waiting for their PUBACK on the current client. */
  readonly #waiting = new Set<(error: Error) => void>();

  constructor(options: MqttSessionOptions) {
    this.#options = options;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /**
   * New credentials arrived: if the session is waiting to retry, retry now;
   * if they moved the topic prefix, reconnect at once under the new one.
   */
  tokenChanged(): void {
    const client = this.#client;
    const topicPrefix = this.#options.topicPrefix();
    if (client !== undefined && topicPrefix !== this.#topicPrefix) {
      this.#options.log.info({ topicPrefix }, 'the topic prefix changed; reconnecting');
      this.#retryNow.wake();
      client.end(true);
      return;
    }
    if (!this.#connected) this.#retryNow.wake();
  }

  publish(channel: DeviceUplink, payload: Buffer | string, qos: 0 | 1): Promise<void> {
    const client = this.#client;
    if (client === undefined || !this.#connected) {
      return Promise.reject(new Error('not connected to the broker'));
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiting.add(reject);
      const topic = deviceTopic(this.#options.deviceId, channel, this.#topicPrefix);
      client.publish(topic, payload, { qos }, (error) => {
        this.#waiting.delete(reject);
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /** Connects, and reconnects whenever the connection drops, until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.#options;
    const backoff = new Backoff(this.#options.reconnect ?? { initialMs: 1_000, maxMs: 120_000 });
    while (!signal.aborted) {
      const outcome = await this.#connectOnce(signal);
      if (signal.aborted) break;
      if (outcome.connected) backoff.reset();
      const delay = backoff.next();
      log.warn(
        { err: outcome.error, retryInMs: delay },
        outcome.connected ? 'MQTT connection lost' : 'cannot connect to the MQTT broker',
      );
      await this.#retryNow.wait(delay, signal);
    }
  }

  async #connectOnce(signal: AbortSignal): Promise<{ connected: boolean; error?: string }> {
    const { deviceId, log } = this.#options;
    const create = this.#options.createClient ?? ((url, options) => mqtt.connect(url, options));
    this.#topicPrefix = this.#options.topicPrefix();
    const client = create(this.#options.url, {
      clientId: deviceId,
      username: deviceId,
      password: this.#options.token(),
      protocolVersion: 4,
      // Commands are time-bound (a reboot queued for a day is a surprise), and
      // desired state is retained, so nothing needs a persistent session.
      clean: true,
      keepalive: this.#options.keepaliveSeconds ?? 30,
      connectTimeout: this.#options.connectTimeoutMs ?? 15_000,
      reconnectPeriod: 0,
      queueQoSZero: false,
      resubscribe: false,
      // mqtt.js otherwise builds a Buffer for each of the 65,536 message ids
      // on the first publish: 7 MiB of heap held for the process's life.
      writeCache: false,
      ca: this.#options.tls.ca,
      rejectUnauthorized: this.#options.tls.rejectUnauthorized,
    });
    this.#client = client;
    let wasConnected = false;
    let lastError: string | undefined;
    const closed = new Promise<void>((resolve) => {
      client.on('error', (error: Error & { code?: number }) => {
        lastError = errorMessage(error);
        if (typeof error.code === 'number' && refusedCredentials.has(error.code)) {
          log.warn({ code: error.code }, 'the broker refused the device token');
          this.#options.onAuthRefused?.();
        }
      });
      client.on('close', () => resolve());
      client.on('message', (topic, payload) => this.#receive(topic, payload));
      client.on('connect', () => {
        wasConnected = true;
        void this.#subscribe(client).catch((error: unknown) => {
          lastError = errorMessage(error);
          client.end(true);
        });
      });
    });
    const onAbort = () => client.end(true);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await closed;
    } finally {
      signal.removeEventListener('abort', onAbort);
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      this.#client = undefined;
      for (const reject of this.#waiting) reject(new Error('the MQTT connection closed'));
      this.#waiting.clear();
      if (this.#connected) {
        this.#connected = false;
        this.#options.onDisconnected?.();
      }
    }
    return { connected: wasConnected, ...(lastError === undefined ? {} : { error: lastError }) };
  }

  async #subscribe(client: MqttClient): Promise<void> {
    const { deviceId, log } = this.#options;
    const topics = [
      deviceTopic(deviceId, 'desired', this.#topicPrefix),
      deviceTopic(deviceId, 'commands', this.#topicPrefix),
    ];
    const granted = await client.subscribeAsync(topics, { qos: 1 });
    const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length > 0) {
      this.#options.onAuthRefused?.();
      throw new Error(`the broker refused subscriptions to ${refused.join(', ')}`);
    }
    if (this.#client !== client) return;
    this.#connected = true;
    log.info({ url: this.#options.url }, 'connected to the MQTT broker');
    this.#options.onConnected?.();
  }

  #receive(topic: string, payload: Buffer): void {
    const { deviceId, onMessage } = this.#options;
    for (const channel of deviceDownlinks) {
      if (topic === deviceTopic(deviceId, channel, this.#topicPrefix)) onMessage(channel, payload);
    }
  }
}
