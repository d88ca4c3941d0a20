import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError } from 'aedes';

export interface ReceivedMessage {
  clientId: string;
  topic: string;
  payload: Buffer;
}

export interface TestBrokerOptions {
  /** Whether `password` is a valid token of device `username`. */
  authenticate: (username: string, password: string) => boolean;
  /** Serve MQTT over TLS (mqtts://) with this certificate. */
  tls?: { cert: string; key: string };
}

/**
 * An aedes broker that enforces the device ACL (a device publishes and
 * subscribes only under its own `devices/{id}/`), records what devices
 * publish, and can be killed and brought back on the same port, keeping
 * retained messages as a real broker's persistence would.
 */
export class TestBroker {
  readonly received: ReceivedMessage[] = [];
  readonly connects: Array<{ clientId: string; password: string; accepted: boolean }> = [];
  readonly #options: TestBrokerOptions;
  readonly #retained = new Map<string, Buffer>();
  #aedes: Aedes | undefined;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #port = 0;

  private constructor(options: TestBrokerOptions) {
    this.#options = options;
  }

  static async start(options: TestBrokerOptions): Promise<TestBroker> {
    const broker = new TestBroker(options);
    await broker.restart();
    return broker;
  }

  get url(): string {
    return `${this.#options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${this.#port}`;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Messages a device published on one of its channels, parsed as JSON. */
  messages(channel: string): unknown[] {
    return this.received
      .filter((m) => m.topic.endsWith(`/${channel}`))
      .map((m) => JSON.parse(m.payload.toString()) as unknown);
  }

  async restart(): Promise<void> {
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const accepted =
          username !== undefined &&
          username === client.id &&
          this.#options.authenticate(username, password?.toString() ?? '');
        this.connects.push({ clientId: client.id, password: password?.toString() ?? '', accepted });
        if (accepted) done(null, true);
        else
          done(
            Object.assign(new Error('bad token'), { returnCode: 4 }) as AuthenticateError,
            false,
          );
      },
      authorizePublish: (client, packet, callback) => {
        const own =
          client !== null &&
          new RegExp(`^devices/${client.id}/(state|telemetry|logs|events)$`).test(packet.topic);
        callback(own ? null : new Error(`${client?.id} may not publish to ${packet.topic}`));
      },
      authorizeSubscribe: (client, subscription, callback) => {
        const own = new RegExp(`^devices/${client.id}/(desired|commands)$`).test(
          subscription.topic,
        );
        callback(null, own ? subscription : null);
      },
    });
    aedes.on('publish', (packet, client) => {
      if (client)
        this.received.push({
          clientId: client.id,
          topic: packet.topic,
          payload: Buffer.from(packet.payload),
        });
    });
    for (const [topic, payload] of this.#retained) {
      await new Promise<void>((resolve) =>
        aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: true, dup: false }, () =>
          resolve(),
        ),
      );
    }
    const accept = (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      aedes.handle(socket);
    };
    const server = this.#options.tls
      ? createTlsServer(this.#options.tls, accept)
      : createServer(accept);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#aedes = aedes;
    this.#server = server;
  }

  /** Stops accepting and drops every connection, like a crashed broker. */
  async kill(): Promise<void> {
    const server = this.#server;
    const aedes = this.#aedes;
    this.#server = undefined;
    this.#aedes = undefined;
    if (server === undefined || aedes === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await closed;
  }

  /** Drops one client's connection, as a broker does when its token expires. */
  disconnect(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async publish(
    topic: string,
    message: unknown,
    options: { retain?: boolean } = {},
  ): Promise<void> {
    const payload = Buffer.from(JSON.stringify(message));
    if (options.retain) this.#retained.set(topic, payload);
    const aedes = this.#aedes;
    if (aedes === undefined) throw new Error('the broker is down');
    await new Promise<void>((resolve, reject) =>
      aedes.publish(
        { cmd: 'publish', topic, payload, qos: 1, retain: options.retain ?? false, dup: false },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
  }
}
