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

const ackDeferred = new Error('acknowledged once the handlers settle');
/** What synchronous handlers' messages wait for: the acknowledgements of one tick go together. */
const handledAtOnce = Promise.resolve();

/** PUBACK packets (MQTT 3.1.1 §3.4), four bytes each, in one buffer. */
function pubacks(messageIds: readonly number[]): Buffer {
  const packets = Buffer.allocUnsafe(4 * messageIds.length);
  for (let i = 0; i < messageIds.length; i += 1) {
    packets[4 * i] = 0x40;
    packets[4 * i + 1] = 2;
    packets.writeUInt16BE(messageIds[i]!, 4 * i + 2);
  }
  return packets;
}

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
  /**
   * Messages of this connection's current stream waiting for their handlers,
   * by what the handlers returned: a batching handler returns one promise for
   * a whole batch, and its messages are acknowledged together.
   */
  #unacknowledged = new Map<Promise<void>, number[]>();

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
    this.#whenSettled(handled ?? handledAtOnce).push(packet.messageId);
    // An error makes mqtt.js skip its own PUBACK and read on; it is not reported.
    callback(ackDeferred);
  }

  /**
   * The message ids to acknowledge once `handled` settles. A handler that
   * fails still lets its messages be acknowledged: MQTT 3.1.1 has no negative
   * acknowledgement, and a withheld PUBACK only blocks a slot of the broker's
   * in-flight window until the next reconnect, when a clean session drops
   * the message all the same.
   */
  #whenSettled(handled: Promise<void>, filter?: string): number[] {
    const waiting = this.#unacknowledged;
    const known = waiting.get(handled);
    if (known !== undefined) return known;
    const ids: number[] = [];
    waiting.set(handled, ids);
    const stream = this.client.stream;
    const acknowledge = () => {
      waiting.delete(handled);
      // A PUBACK for a message of an earlier connection would acknowledge
      // whatever the broker now numbers alike; the broker resends or drops
      // the old one according to the session.
      if (ids.length === 0 || !this.client.connected || this.client.stream !== stream) return;
      // Written as bytes rather than through mqtt.js, whose packet writer
      // costs more per PUBACK than the rest of the acknowledgement; one write
      // per settled batch.
      try {
        stream.write(pubacks(ids));
      } catch (error) {
        // Thrown here it would reject a promise nobody awaits and end the process.
        this.#log.warn({ err: error, messages: ids.length }, 'cannot acknowledge messages');
      }
    };
    handled.then(acknowledge, (error: unknown) => {
      this.#log.error({ err: error, filter }, 'a message handler failed');
      acknowledge();
    });
    return ids;
  }

  /**
   * Runs every matching handler and returns what there is to wait for, if
   * anything; never throws. Handlers get the message but nothing here keeps
   * it: under load thousands of messages wait for batched writes, and each
   * retained payload would pin the whole socket chunk it was sliced from.
   */
  #dispatch(packet: IPublishPacket): Promise<void> | undefined {
    if (!packet.topic.startsWith(this.#topicPrefix)) return undefined;
    const message: BusMessage = {
      topic: packet.topic.slice(this.#topicPrefix.length),
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      retain: packet.retain,
    };
    let running: Promise<void>[] | undefined;
    for (const subscription of this.#subscriptions) {
      if (!matchesTopicFilter(subscription.filter, message.topic)) continue;
      const outcome = this.#run(subscription, message);
      if (outcome === undefined) continue;
      // Watched on its own so that a failure is logged once, with its subscription.
      this.#whenSettled(outcome, subscription.filter);
      (running ??= []).push(outcome);
    }
    if (running === undefined || running.length === 1) return running?.[0];
    return Promise.allSettled(running).then(() => undefined);
  }

  #run(subscription: LocalSubscription, message: BusMessage): Promise<void> | undefined {
    try {
      const outcome = subscription.handler(message);
      return outcome instanceof Promise ? outcome : undefined;
    } catch (error) {
      const { topic } = message;
      this.#log.error(
        { err: error, topic, filter: subscription.filter },
        'a message handler failed',
      );
      return undefined;
    }
  }

  #watch(): void {
    let wasConnected = false;
    this.client.on('connect', () => {
      // A handler's promise may outlive its stream; messages of the new one wait apart.
      this.#unacknowledged = new Map();
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
