import type { Logger } from '../log/create-logger.js';
import type { Bus, MessageHandler, PublishOptions, SubscribeOptions, Subscription } from './bus.js';
import { BusConnection, type ClientFactory, type LocalSubscription } from './bus-connection.js';
import { topicFilterProblem, topicNameProblem } from './topic-filter.js';

export interface MqttBusOptions {
  kind: Bus['kind'];
  /** Prepended to every topic on the wire, stripped from every topic received. */
  topicPrefix: string;
  /** Unique per process: group connections derive their ids from it. */
  clientId: string;
  /**
   * Shared subscription groups keep their sessions at the broker across
   * reconnects and restarts, so their QoS 1 messages wait for this process
   * rather than being lost; only with a `clientId` stable across restarts.
   */
  persistentGroups?: boolean;
  createClient: ClientFactory;
  log: Logger;
  /** How long `connect` waits for the broker. */
  connectTimeoutMs?: number;
  /** How long `close` waits for in-flight publishes before dropping the connection. */
  closeGraceMs?: number;
  /** Runs after the connections are closed: stops an embedded broker. */
  onClose?: () => Promise<void>;
}

/**
 * The Bus over MQTT 3.1.1 with mqtt.js. Shared subscription groups each get
 * their own connection: MQTT 3.1.1 does not say which subscription a message
 * was delivered for, and a broker may send a client one copy however many of
 * its subscriptions match (Mosquitto 2 does, even for a shared and an
 * ordinary one), so on one connection a group handler could not tell its
 * share from a copy that came for an ordinary subscription to the same topics.
 */
export class MqttBus implements Bus {
  readonly kind: Bus['kind'];
  readonly #options: MqttBusOptions;
  readonly #main: BusConnection;
  readonly #groups = new Map<string, BusConnection>();
  #closing: Promise<void> | undefined;
  /** Rejects when the bus closes, ending publishes that would otherwise wait forever. */
  readonly #closed: Promise<never>;
  #rejectClosed: (error: Error) => void = () => undefined;

  private constructor(options: MqttBusOptions) {
    this.kind = options.kind;
    this.#options = options;
    this.#main = this.#open(options.clientId);
    this.#closed = new Promise<never>((_resolve, reject) => {
      this.#rejectClosed = reject;
    });
    this.#closed.catch(() => undefined);
  }

  /** Opens the bus and waits for its first connection to the broker. */
  static async connect(options: MqttBusOptions): Promise<MqttBus> {
    const bus = new MqttBus(options);
    try {
      await bus.#main.waitUntilConnected(options.connectTimeoutMs ?? 10_000);
    } catch (error) {
      await bus.close();
      throw error;
    }
    return bus;
  }

  async publish(
    topic: string,
    payload: Buffer | string,
    options: PublishOptions = {},
  ): Promise<void> {
    const problem = topicNameProblem(topic);
    if (problem !== undefined)
      throw new Error(`cannot publish to ${JSON.stringify(topic)}: ${problem}`);
    this.#assertOpen();
    const wireTopic = this.#options.topicPrefix + topic;
    try {
      await Promise.race([
        this.#main.client.publishAsync(wireTopic, payload, {
          qos: options.qos ?? 0,
          retain: options.retain ?? false,
        }),
        this.#closed,
      ]);
    } catch (error) {
      throw new Error(`cannot publish to ${wireTopic}`, { cause: error });
    }
  }

  async subscribe(
    filter: string,
    handler: MessageHandler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    const problem = topicFilterProblem(filter);
    if (problem !== undefined)
      throw new Error(`cannot subscribe to ${JSON.stringify(filter)}: ${problem}`);
    const { group, members = 1 } = options;
    if (group !== undefined && (group === '' || /[/+#]/.test(group))) {
      throw new Error(
        `${JSON.stringify(group)} is not a valid group name: it must be non-empty, without / + #`,
      );
    }
    if (!Number.isInteger(members) || members < 1 || (group === undefined && members !== 1)) {
      throw new Error(`members must be a whole number from 1, and more than 1 only with a group`);
    }
    this.#assertOpen();
    const wireFilter = this.#options.topicPrefix + filter;
    const subscription: LocalSubscription = {
      filter,
      wireFilter: group === undefined ? wireFilter : `$share/${group}/${wireFilter}`,
      qos: options.qos ?? 0,
      handler,
    };
    const connections =
      group === undefined
        ? [this.#main]
        : Array.from({ length: members }, (_, member) => this.#groupConnection(group, member));
    // Registered on every connection before any SUBSCRIBE goes out, so that
    // messages a persistent session kept arrive to a handler.
    const subscribed = await Promise.allSettled(
      connections.map((connection) => connection.subscribe(subscription)),
    );
    const failed = subscribed.find((outcome) => outcome.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(connections.map((connection) => connection.unsubscribe(subscription)));
      throw failed.reason;
    }
    let unsubscribed: Promise<void> | undefined;
    return {
      unsubscribe: () => {
        // Closing the bus ended every subscription already.
        unsubscribed ??=
          this.#closing === undefined
            ? Promise.all(
                connections.map((connection) => connection.unsubscribe(subscription)),
              ).then(() => undefined)
            : Promise.resolve();
        return unsubscribed;
      },
    };
  }

  async ping(): Promise<void> {
    if (this.#closing !== undefined) throw new Error('the bus is closed');
    for (const [group, connection] of [['', this.#main] as const, ...this.#groups]) {
      if (!connection.connected) {
        const which = group === '' ? '' : ` for group ${group}`;
        throw new Error(`not connected to the MQTT broker${which}`);
      }
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#rejectClosed(new Error('the bus closed'));
    const graceMs = this.#options.closeGraceMs ?? 2_000;
    const connections = [this.#main, ...this.#groups.values()];
    await Promise.all(connections.map((connection) => connection.close(graceMs)));
    await this.#options.onClose?.();
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new Error('the bus is closed');
  }

  // Ids follow from the group and the member's number, never from the order
  // of subscribing, so a persistent session is found again after a restart.
  #groupConnection(group: string, member: number): BusConnection {
    const key = `${group}-${member + 1}`;
    let connection = this.#groups.get(key);
    if (connection === undefined) {
      connection = this.#open(`${this.#options.clientId}-${key}`, this.#options.persistentGroups);
      this.#groups.set(key, connection);
    }
    return connection;
  }

  #open(clientId: string, persistent = false): BusConnection {
    const { topicPrefix, log, createClient } = this.#options;
    return new BusConnection({ clientId, topicPrefix, log, createClient, persistent });
  }
}
