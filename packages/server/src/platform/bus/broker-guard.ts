import type { Aedes, AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Logger } from '../log/create-logger.js';
import {
  type BrokerAccess,
  type BrokerPrincipal,
  BrokerRefusal,
  refusalCodes,
} from './broker-access.js';
import type { BrokerAcl } from './broker-acl.js';

type Hooks = Required<
  Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'published'>
>;

export interface BrokerGuardOptions {
  access: BrokerAccess;
  acl: BrokerAcl;
  log: Logger;
  /** How often connected devices are re-checked: deleted ones and expired tokens are cut off. */
  sweepIntervalMs?: number;
  /** Refuse every connection from outside the process until `admit()` (default: admit at once). */
  admitLater?: boolean;
  now?: () => Date;
}

/** Whether connections from outside the process are let in, and their publishes taken. */
type Admission = 'not yet' | 'open' | 'quiesced';

interface Admitted {
  principal: BrokerPrincipal;
  /** Set once the guard cut the client off, so nothing it left behind (a will) gets out. */
  revoked: boolean;
}

/**
 * Authentication and topic ACLs for the embedded aedes broker, wrapped around
 * the other hooks (shared subscriptions), and the periodic re-check that
 * disconnects devices that were deleted or whose token expired while
 * connected: one batched query per sweep for every connected device.
 */
export class BrokerGuard {
  readonly #options: BrokerGuardOptions;
  readonly #admitted = new Map<Client, Admitted>();
  readonly #inProcess = new WeakSet<object>();
  #timer: NodeJS.Timeout | undefined;
  #sweeping = false;
  #admission: Admission;

  constructor(options: BrokerGuardOptions) {
    this.#options = options;
    this.#admission = options.admitLater === true ? 'not yet' : 'open';
  }

  /** Lets connections from outside in: once whatever handles their messages is running. */
  admit(): void {
    if (this.#admission === 'not yet') this.#admission = 'open';
  }

  /**
   * From now on refuses connections from outside and leaves their publishes
   * unacknowledged (a device sends them again to the next server), so that
   * nothing is acknowledged once what stores it begins to stop.
   */
  quiesce(): void {
    this.#admission = 'quiesced';
  }

  /** Whether a client is a device: its QoS 1 publishes are acknowledged only once stored. */
  isDevice(client: Client): boolean {
    return this.#admitted.get(client)?.principal.kind === 'device';
  }

  /** Marks a stream the process itself opened into the broker. */
  trust(stream: object): void {
    this.#inProcess.add(stream);
  }

  /** The aedes hooks: these checks first, then `inner`'s. */
  hooks(inner: Omit<Hooks, 'authenticate'>): Hooks {
    const { acl, log } = this.#options;
    return {
      ...inner,
      authenticate: (client, username, password, done) => {
        if (this.#admission !== 'open' && !this.#inProcess.has(client.conn)) {
          const refusal = new BrokerRefusal('server-unavailable', 'the server is not serving');
          done(this.#refusal(client, refusal, 'info'), false);
          return;
        }
        this.#authenticate(client, username, password).then(
          () => done(null, true),
          (error: unknown) => done(this.#refusal(client, error), false),
        );
      },
      authorizePublish: (client, packet, callback) => {
        const admitted = client === null ? undefined : this.#admitted.get(client);
        if (admitted === undefined || admitted.revoked) {
          callback(new Error('the client is not admitted'));
          return;
        }
        if (!acl.mayPublish(admitted.principal, packet.topic)) {
          log.info({ clientId: client?.id, topic: packet.topic }, 'refused an MQTT publish');
          callback(new Error(`publishing to ${packet.topic} is not allowed`));
          return;
        }
        // Never called back: aedes neither acknowledges nor routes it, and
        // stops reading the connection, which ends when the broker closes.
        if (this.#admission === 'quiesced' && admitted.principal.kind === 'device') return;
        inner.authorizePublish(client, packet, callback);
      },
      authorizeSubscribe: (client, subscription, callback) => {
        const admitted = this.#admitted.get(client);
        if (admitted === undefined || admitted.revoked) {
          callback(null, null);
          return;
        }
        if (!acl.maySubscribe(admitted.principal, subscription.topic)) {
          log.info(
            { clientId: client.id, topic: subscription.topic },
            'refused an MQTT subscription',
          );
          callback(null, null);
          return;
        }
        inner.authorizeSubscribe(client, subscription, callback);
      },
    };
  }

  /** Starts the re-checks and forgets clients as they leave. */
  attach(aedes: Aedes): void {
    aedes.on('clientDisconnect', (client) => this.#admitted.delete(client));
    this.#timer = setInterval(() => void this.sweep(), this.#options.sweepIntervalMs ?? 5_000);
    this.#timer.unref();
  }

  /** Disconnects every connection of a device; returns how many there were. */
  disconnectDevice(deviceId: string, reason = 'the device was deregistered'): number {
    let count = 0;
    for (const [client, admitted] of this.#admitted) {
      const { principal } = admitted;
      if (principal.kind === 'device' && principal.deviceId === deviceId && !admitted.revoked) {
        this.#cutOff(client, admitted, reason);
        count += 1;
      }
    }
    return count;
  }

  /** Disconnects devices whose token expired or that are no longer registered. */
  async sweep(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      const now = (this.#options.now ?? (() => new Date()))();
      const byDevice = new Map<string, [Client, Admitted][]>();
      for (const [client, admitted] of this.#admitted) {
        const { principal } = admitted;
        if (client.closed) {
          this.#admitted.delete(client);
          continue;
        }
        if (principal.kind !== 'device' || admitted.revoked) continue;
        if (principal.expiresAt <= now) {
          this.#cutOff(client, admitted, 'its token expired');
          continue;
        }
        const clients = byDevice.get(principal.deviceId) ?? [];
        clients.push([client, admitted]);
        byDevice.set(principal.deviceId, clients);
      }
      if (byDevice.size === 0) return;
      const registered = await this.#options.access.registeredDevices([...byDevice.keys()]);
      for (const [deviceId, clients] of byDevice) {
        if (registered.has(deviceId)) continue;
        for (const [client, admitted] of clients) {
          this.#cutOff(client, admitted, 'the device is no longer registered');
        }
      }
    } catch (error) {
      // Keep connected devices when the database cannot answer: new
      // connections fail anyway, and the next sweep tries again.
      this.#options.log.warn({ err: error }, 'cannot re-check connected devices');
    } finally {
      this.#sweeping = false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<void> {
    const principal = await this.#options.access.authenticate({
      clientId: client.id,
      username,
      password,
      inProcess: this.#inProcess.has(client.conn),
    });
    this.#admitted.set(client, { principal, revoked: false });
  }

  #refusal(client: Client, error: unknown, expected?: 'info'): AuthenticateError {
    const refusal =
      error instanceof BrokerRefusal
        ? error
        : new BrokerRefusal('server-unavailable', 'cannot check credentials', { cause: error });
    const level = expected ?? (refusal.reason === 'server-unavailable' ? 'error' : 'info');
    this.#options.log[level](
      { clientId: client.id, reason: refusal.reason, err: refusal },
      `refused an MQTT connection: ${refusal.message}`,
    );
    // The message is what aedes reports; the client only sees the return code.
    return Object.assign(new Error(refusal.message), {
      returnCode: refusalCodes[refusal.reason],
    }) as AuthenticateError;
  }

  #cutOff(client: Client, admitted: Admitted, reason: string): void {
    admitted.revoked = true;
    const { principal } = admitted;
    const deviceId = principal.kind === 'device' ? principal.deviceId : undefined;
    this.#options.log.info({ clientId: client.id, deviceId }, `disconnected a device: ${reason}`);
    client.close();
  }
}
