import { randomUUID } from 'node:crypto';
import type {
  Aedes,
  AedesOptions,
  AedesPublishPacket,
  Client,
  PublishPacket,
  Subscription,
} from 'aedes';
import type { Logger } from '../log/create-logger.js';
import { matchesTopicFilter, topicFilterProblem } from './topic-filter.js';

const sharePrefix = '$share/';

interface Member {
  client: Client;
  qos: 0 | 1 | 2;
}

interface Group {
  filter: string;
  members: Member[];
  /** Round-robin position: the index of the member that got the last message. */
  last: number;
}

type Hooks = Required<Pick<AedesOptions, 'authorizeSubscribe' | 'authorizePublish' | 'published'>>;

export interface SharedSubscriptionsOptions {
  log: Logger;
  /**
   * Whether a QoS 1 publish from this client is acknowledged to it only once
   * every group member it went to acknowledged its copy.
   */
  confirmedFor?: (client: Client) => boolean;
}

/** A copy delivered to a member, awaiting the member's PUBACK. */
interface Awaited {
  client: Client;
  settle: (error?: Error) => void;
}

/** `$share/<group>/<filter>` split into its parts, or undefined when malformed. */
export function parseShare(topic: string): { group: string; filter: string } | undefined {
  if (!topic.startsWith(sharePrefix)) return undefined;
  const rest = topic.slice(sharePrefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const group = rest.slice(0, slash);
  const filter = rest.slice(slash + 1);
  if (/[+#]/.test(group) || topicFilterProblem(filter) !== undefined) return undefined;
  return { group, filter };
}

/**
 * MQTT shared subscriptions (`$share/<group>/<filter>`) for aedes 1.x, which
 * has none: a `$share/...` subscription is left in aedes exactly as the
 * client sent it, so aedes itself keeps the client's subscription table,
 * unsubscribes it and drops it on disconnect. Because publishing to `$share/`
 * topics is refused, that subscription never matches anything by itself;
 * instead, after aedes has delivered a publish to the ordinary subscribers,
 * the `published` hook hands it to one member of every matching group, round
 * robin, through the member's own delivery path (QoS, message ids, PUBACK,
 * session persistence all stay aedes's). Delivering directly to the member
 * avoids a second trip through the broker on a private routing topic, which
 * would store retained copies twice and need its own loop protection.
 *
 * A QoS 1 publish from a client `confirmedFor` (a device) is routed before
 * aedes acknowledges it, and its PUBACK waits until each member that got it
 * acknowledged its copy, which the bus does once its handlers stored it
 * (docs/decisions/0320-embedded-broker-acknowledges-after-store.md).
 */
export class SharedSubscriptions {
  readonly #groups = new Map<string, Group>();
  readonly #log: Logger;
  readonly #confirmedFor: (client: Client) => boolean;
  /** Publishes routed before their PUBACK, which `published` must not route again. */
  readonly #routedEarly = new WeakSet<PublishPacket>();
  /** Copies awaiting their member's PUBACK, by the counter they were stamped with. */
  readonly #awaited = new Map<number, Awaited>();
  #counter = 0;
  /** The broker id confirmed copies are stamped with; aedes's `ack` event hands it back. */
  readonly #brokerId = `flock-shared-${randomUUID()}`;
  #held = 0;
  #idle: (() => void)[] = [];

  constructor(options: SharedSubscriptionsOptions) {
    this.#log = options.log;
    this.#confirmedFor = options.confirmedFor ?? (() => false);
  }

  /** The aedes options that implement shared subscriptions. */
  hooks(): Hooks {
    return {
      authorizeSubscribe: (client, subscription, callback) => {
        callback(null, this.#join(client, subscription));
      },
      authorizePublish: (client, packet, callback) => {
        const problem = publishProblem(packet);
        if (
          problem !== null ||
          client === null ||
          packet.qos !== 1 ||
          !this.#confirmedFor(client)
        ) {
          callback(problem);
          return;
        }
        // aedes writes the PUBACK as soon as this calls back, and only then
        // routes the message: so the groups get it here, first.
        this.#routedEarly.add(packet);
        this.#hold(this.#route(packet, true)).then(
          () => callback(null),
          (error: unknown) => {
            this.#log.warn(
              { err: error, clientId: client.id, topic: packet.topic },
              'a publish is left unacknowledged: a group member left without acknowledging it',
            );
            callback(error instanceof Error ? error : new Error(String(error)));
          },
        );
      },
      published: (packet, _client, callback) => {
        if (this.#routedEarly.has(packet)) {
          callback(null);
          return;
        }
        this.#route(packet, false).then(
          () => callback(null),
          (error: unknown) => {
            this.#log.error(
              { err: error, topic: packet.topic },
              'routing to shared subscriptions failed',
            );
            callback(null);
          },
        );
      },
    };
  }

  /** Keeps group membership in step with what aedes holds for each client. */
  attach(aedes: Aedes): void {
    aedes.on('unsubscribe', (topics, client) => {
      for (const topic of topics) this.#leave(topic, client);
    });
    aedes.on('clientDisconnect', (client) => {
      for (const topic of [...this.#groups.keys()]) this.#leave(topic, client);
      this.#abandoned(client);
    });
    aedes.on('ack', (packet) => {
      // Only a persistent session's acknowledgement comes with its packet:
      // the one stored when it was sent, stamped as `#deliver` left it.
      const sent = packet as Partial<AedesPublishPacket> | undefined;
      if (sent?.brokerId !== this.#brokerId || sent.brokerCounter === undefined) return;
      const awaited = this.#awaited.get(sent.brokerCounter);
      this.#awaited.delete(sent.brokerCounter);
      awaited?.settle();
    });
  }

  /** Resolves once no publish waits for its groups' acknowledgements. */
  idle(): Promise<void> {
    if (this.#held === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #hold(routing: Promise<void>): Promise<void> {
    this.#held += 1;
    try {
      await routing;
    } finally {
      this.#held -= 1;
      if (this.#held === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  // A member that leaves before acknowledging may not have stored its copy:
  // the publish stays unacknowledged, and its sender sends it again.
  #abandoned(client: Client): void {
    for (const [counter, awaited] of this.#awaited) {
      if (awaited.client !== client) continue;
      this.#awaited.delete(counter);
      awaited.settle(new Error(`the group member ${client.id} left`));
    }
  }

  /** How many clients are in each group, keyed by the `$share/...` topic; for tests and metrics. */
  membership(): Map<string, number> {
    return new Map([...this.#groups].map(([topic, group]) => [topic, group.members.length]));
  }

  #join(client: Client, subscription: Subscription): Subscription | null {
    if (!subscription.topic.startsWith(sharePrefix)) return subscription;
    const share = parseShare(subscription.topic);
    if (share === undefined) {
      this.#log.warn(
        { clientId: client.id, topic: subscription.topic },
        'refused a malformed shared subscription',
      );
      return null;
    }
    let group = this.#groups.get(subscription.topic);
    if (group === undefined) {
      group = { filter: share.filter, members: [], last: -1 };
      this.#groups.set(subscription.topic, group);
    }
    const qos = subscription.qos;
    const existing = group.members.find((member) => member.client === client);
    if (existing === undefined) group.members.push({ client, qos });
    else existing.qos = qos;
    return subscription;
  }

  // Members are compared by client object, not id: when a client id is taken
  // over, the new connection's restored subscriptions join before the old
  // connection's disconnect is reported, and must survive it.
  #leave(topic: string, client: Client): void {
    const group = this.#groups.get(topic);
    if (group === undefined) return;
    const index = group.members.findIndex((member) => member.client === client);
    if (index < 0) return;
    group.members.splice(index, 1);
    if (index <= group.last) group.last -= 1;
    if (group.members.length === 0) this.#groups.delete(topic);
  }

  async #route(packet: PublishPacket, confirmed: boolean): Promise<void> {
    if (this.#groups.size === 0) return;
    const deliveries: Promise<void>[] = [];
    for (const [topic, group] of this.#groups) {
      if (!matchesTopicFilter(group.filter, packet.topic)) continue;
      const member = this.#next(topic, group);
      if (member !== undefined) deliveries.push(this.#deliver(member, packet, confirmed));
    }
    await Promise.all(deliveries);
  }

  #next(topic: string, group: Group): Member | undefined {
    // A client that closed without its disconnect being reported (a failed
    // connect after its session was restored) must not swallow messages.
    for (const member of group.members.filter((m) => m.client.closed))
      this.#leave(topic, member.client);
    if (group.members.length === 0) return undefined;
    group.last = (group.last + 1) % group.members.length;
    return group.members[group.last];
  }

  /**
   * Resolves once the copy is written or, when `confirmed` and the member can
   * tell (QoS 1 into a persistent session, whose acknowledgements aedes
   * reports with their packet), once the member acknowledged it; rejects when
   * the member leaves first.
   */
  #deliver(member: Member, packet: PublishPacket, confirmed: boolean): Promise<void> {
    const qos = Math.min(packet.qos, member.qos) as 0 | 1 | 2;
    const message: PublishPacket & Partial<Pick<AedesPublishPacket, 'brokerId' | 'brokerCounter'>> =
      {
        cmd: 'publish',
        topic: packet.topic,
        payload: packet.payload,
        qos,
        // As for any subscription made before the publish [MQTT-3.3.1-9].
        retain: false,
        dup: false,
      };
    const { client } = member;
    const awaitsAck = confirmed && qos === 1 && !client.clean;
    return new Promise((resolve, reject) => {
      if (awaitsAck) {
        this.#counter += 1;
        message.brokerId = this.#brokerId;
        message.brokerCounter = this.#counter;
        this.#awaited.set(this.#counter, {
          client,
          settle: (error) => (error === undefined ? resolve() : reject(error)),
        });
      }
      client.publish(message, (error) => {
        if (error) {
          this.#log.warn(
            { err: error, clientId: client.id, topic: packet.topic },
            'shared delivery failed',
          );
        }
        if (!awaitsAck) resolve();
      });
    });
  }
}

function publishProblem(packet: PublishPacket): Error | null {
  // aedes's default hook refuses $SYS; replacing it must keep that.
  if (packet.topic.startsWith('$SYS/')) return new Error('$SYS topics are reserved');
  if (packet.topic.startsWith(sharePrefix))
    return new Error('$share topics are for subscriptions only');
  return null;
}
