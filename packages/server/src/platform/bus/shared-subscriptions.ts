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
 */
export class SharedSubscriptions {
  readonly #groups = new Map<string, Group>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** The aedes options that implement shared subscriptions. */
  hooks(): Hooks {
    return {
      authorizeSubscribe: (client, subscription, callback) => {
        callback(null, this.#join(client, subscription));
      },
      authorizePublish: (_client, packet, callback) => {
        callback(publishProblem(packet));
      },
      published: (packet, _client, callback) => {
        this.#route(packet).then(
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
    });
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

  async #route(packet: AedesPublishPacket): Promise<void> {
    if (this.#groups.size === 0) return;
    const deliveries: Promise<void>[] = [];
    for (const [topic, group] of this.#groups) {
      if (!matchesTopicFilter(group.filter, packet.topic)) continue;
      const member = this.#next(topic, group);
      if (member !== undefined) deliveries.push(this.#deliver(member, packet));
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

  #deliver(member: Member, packet: AedesPublishPacket): Promise<void> {
    const message: PublishPacket = {
      cmd: 'publish',
      topic: packet.topic,
      payload: packet.payload,
      qos: Math.min(packet.qos, member.qos) as 0 | 1 | 2,
      // As for any subscription made before the publish [MQTT-3.3.1-9].
      retain: false,
      dup: false,
    };
    return new Promise((resolve) => {
      member.client.publish(message, (error) => {
        if (error) {
          this.#log.warn(
            { err: error, clientId: member.client.id, topic: packet.topic },
            'shared delivery failed',
          );
        }
        resolve();
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
