import { setTimeout as sleep } from 'node:timers/promises';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from '../log/create-logger.js';
import type { BusMessage, MessageHandler, Qos } from './bus.js';
import { matchesTopicFilter } from './topic-filter.js';

/** Builds an mqtt.js client that must not connect before `connect()` is called. */
export type ClientFactory = (options: IClientOptions & { manualConnect: true }) => MqttClient;

export interface LocalSubscription {
  /** Without the topic prefix: what handlers are matched on. */
  filter: string;
  /** As sent to the broker: prefixed, and inside `$share/<group>/` for a group. */
  wireFilter: string;
  qos: Qos;
  handler: MessageHandler;
}

export interface BusConnectionOptions {
  clientId: string;
  topicPrefix: string;
  log: Logger;
  createClient: ClientFactory;
  /**
   * Keep the session at the broker while disconnected (MQTT clean session
   * off): QoS 1 messages for its subscriptions wait there, and those sent but
   * not acknowledged come again. Needs a client id stable across restarts.
   */
  persistent?: boolean;
}

/** mqtt.js sends PUBACKs through this private method; see `#deferAck`. */
interface PacketSender {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, callback: () => void): void;
}

const ackDeferred = new Error('acknowledged once the handlers settle');

/**
 * One MQTT 3.1.1 connection and the local subscriptions whose messages it
 * carries. mqtt.js reconnects and re-subscribes on its own; this class
 * dispatches what arrives to every matching handler and acknowledges a QoS 1
 * message only when those handlers have settled.
 */
export class BusConnection {
  readonly client: MqttClient;
  readonly #subscriptions = new Set<LocalSubscription>();
  readonly #topicPrefix: string;
  readonly #log: Logger;
  #wireOps: Promise<void> = Promise.resolve();
  #lastError: string | undefined;

  constructor(options: BusConnectionOptions) {
    this.#topicPrefix = options.topicPrefix;
    this.#log = options.log.child({ clientId: options.clientId });
    this.client = options.createClient({
      clientId: options.clientId,
      protocolVersion: 4,
      clean: options.persistent !== true,
      keepalive: 30,
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      manualConnect: true,
      // mqtt.js logs through `debug` several times per packet, and even
      // disabled that costs a lookup each; nothing here reads those lines.
      log: () => undefined,
    });
    this.client.handleMessage = (packet, callback) => this.#receive(packet, callback);
    this.#watch();
    this.client.connect();
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Resolves on the first CONNACK; rejects after `timeoutMs` with the last connection error. */
  async waitUntilConnected(timeoutMs: number): Promise<void> {
    if (this.client.connected) return;
    let lastError: Error | undefined;
    let onConnect: () => void = () => undefined;
    const onError = (error: Error) => {
      lastError = error;
    };
    const controller = new AbortController();
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          onConnect = () => resolve();
          this.client.once('connect', onConnect);
          this.client.on('error', onError);
        }),
        sleep(timeoutMs, undefined, { signal: controller.signal }).then(() => {
          throw new Error(`no connection to the MQTT broker within ${timeoutMs} ms`, {
            cause: lastError,
          });
        }),
      ]);
    } finally {
      controller.abort();
      this.client.off('connect', onConnect);
      this.client.off('error', onError);
    }
  }

  async subscribe(subscription: LocalSubscription): Promise<void> {
    // Registered before SUBSCRIBE goes out: retained messages may follow the
    // SUBACK at once.
    this.#subscriptions.add(subscription);
    try {
      await this.#serially(async () => {
        // Sent even when another subscription holds the filter, so the broker
        // delivers retained messages to the new handler too.
        await this.client.subscribeAsync(subscription.wireFilter, {
          qos: this.#qosOf(subscription.wireFilter) ?? subscription.qos,
        });
      });
    } catch (error) {
      this.#subscriptions.delete(subscription);
      throw new Error(`cannot subscribe to ${subscription.wireFilter}`, { cause: error });
    }
  }

  async unsubscribe(subscription: LocalSubscription): Promise<void> {
    if (!this.#subscriptions.delete(subscription)) return;
    await this.#serially(async () => {
      if (this.#qosOf(subscription.wireFilter) !== undefined) return;
      try {
        await this.client.unsubscribeAsync(subscription.wireFilter);
      } catch (error) {
        throw new Error(`cannot unsubscribe from ${subscription.wireFilter}`, { cause: error });
      }
    });
  }

  /**
   * Disconnects cleanly once in-flight QoS 1 publishes are acknowledged, or
   * drops the connection after `graceMs`.
   */
  async close(graceMs: number): Promise<void> {
    if (!this.client.connected) {
      await this.client.endAsync(true);
      return;
    }
    const controller = new AbortController();
    const ended = await Promise.race([
      this.client.endAsync().then(
        () => true,
        () => false,
      ),
      sleep(graceMs, false, { signal: controller.signal }).catch(() => false),
    ]);
    controller.abort();
    // A second end() is ignored while the first one waits, so the stream is
    // destroyed directly; mqtt.js does not reconnect while disconnecting.
    if (!ended) this.client.stream.destroy();
  }

  /** The highest QoS wanted for `wireFilter`, or undefined when nobody wants it. */
  #qosOf(wireFilter: string): Qos | undefined {
    let qos: Qos | undefined;
    for (const subscription of this.#subscriptions) {
      if (subscription.wireFilter === wireFilter && (qos === undefined || subscription.qos > qos)) {
        qos = subscription.qos;
      }
    }
    return qos;
  }

  // SUBSCRIBE and UNSUBSCRIBE of one filter must reach the broker in the order
  // the bus decided them, or an unsubscribe could undo a newer subscribe.
  #serially(operation: () => Promise<void>): Promise<void> {
    const result = this.#wireOps.then(operation);
    this.#wireOps = result.catch(() => undefined);
    return result;
  }

  /**
   * mqtt.js's own handleMessage contract is one message at a time: it stops
   * reading the socket until the callback runs, PUBACKs, SUBACKs and PINGRESPs
   * included. Waiting there for a handler would stall every other message
   * behind a slow one and deadlock a handler that awaits a QoS 1 publish (its
   * PUBACK could never be read). So handlers run concurrently, mqtt.js is
   * released at once, and the PUBACK is sent when the handlers settle.
   * (customHandleAcks would be the public way, but mqtt.js honours it for
   * MQTT 5 only, and aedes speaks 3.1.1.)
   */
  #receive(packet: IPublishPacket, callback: (error?: Error) => void): void {
    const handled = this.#dispatch(packet);
    if (packet.qos !== 1 || packet.messageId === undefined) {
      callback();
      return;
    }
    this.#deferAck(handled, packet.messageId);
    // An error makes mqtt.js skip its own PUBACK and read on; it is not reported.
    callback(ackDeferred);
  }

  #deferAck(handled: Promise<void>, messageId: number): void {
    const stream = this.client.stream;
    void handled.then(() => {
      // A PUBACK for a message of an earlier connection would acknowledge
      // whatever the broker now numbers alike; the broker resends or drops
      // the old one according to the session.
      if (!this.client.connected || this.client.stream !== stream) return;
      try {
        (this.client as unknown as PacketSender)._sendPacket(
          { cmd: 'puback', messageId },
          () => undefined,
        );
      } catch (error) {
        this.#log.warn({ err: error, messageId }, 'cannot acknowledge a message');
      }
    });
  }

  /**
   * Runs every matching handler; never rejects. Not async, and handlers get
   * the message but nothing here keeps it: under load thousands of messages
   * wait for batched writes, and each retained payload would pin the whole
   * socket chunk it was sliced from.
   */
  #dispatch(packet: IPublishPacket): Promise<void> {
    if (!packet.topic.startsWith(this.#topicPrefix)) return Promise.resolve();
    const message: BusMessage = {
      topic: packet.topic.slice(this.#topicPrefix.length),
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      retain: packet.retain,
    };
    const running: Promise<void>[] = [];
    for (const subscription of this.#subscriptions) {
      if (matchesTopicFilter(subscription.filter, message.topic))
        running.push(this.#run(subscription, message));
    }
    if (running.length === 1) return running[0]!;
    return Promise.all(running).then(() => undefined);
  }

  // A failed handler still lets the message be acknowledged: MQTT 3.1.1 has
  // no negative acknowledgement, and a withheld PUBACK only blocks a slot of
  // the broker's in-flight window until the next reconnect, when a clean
  // session drops the message all the same.
  #run(subscription: LocalSubscription, message: BusMessage): Promise<void> {
    const { topic } = message;
    const { filter } = subscription;
    const failed = (error: unknown) => {
      this.#log.error({ err: error, topic, filter }, 'a message handler failed');
    };
    try {
      const outcome = subscription.handler(message);
      return outcome instanceof Promise ? outcome.then(undefined, failed) : Promise.resolve();
    } catch (error) {
      failed(error);
      return Promise.resolve();
    }
  }

  #watch(): void {
    let wasConnected = false;
    this.client.on('connect', () => {
      if (wasConnected) this.#log.info('MQTT connection restored');
      wasConnected = true;
      this.#lastError = undefined;
    });
    this.client.on('offline', () => {
      if (wasConnected) this.#log.warn('MQTT connection lost; reconnecting');
    });
    // Also keeps an 'error' event from throwing. A broker that stays down
    // fails every second; one line per distinct failure is enough.
    this.client.on('error', (error) => {
      if (error.message === this.#lastError) return;
      this.#lastError = error.message;
      this.#log.warn({ err: error }, 'MQTT connection failed');
    });
  }
}
