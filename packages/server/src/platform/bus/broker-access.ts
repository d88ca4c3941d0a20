/** Who a broker client is, once it has connected. */
export type BrokerPrincipal =
  /** A Flock process: the in-process bus or another target with the service credential. */
  | { kind: 'service' }
  /** A registered device, until its token expires. */
  | { kind: 'device'; deviceId: string; expiresAt: Date };

export interface ConnectAttempt {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  /**
   * True only for a stream the process opened into its own embedded broker;
   * no bytes from the network can make it true.
   */
  inProcess: boolean;
}

/** Why a connection is refused, as MQTT 3.1.1 CONNACK return codes name it. */
export const refusalCodes = {
  'identifier-rejected': 2,
  'server-unavailable': 3,
  'bad-credentials': 4,
  'not-authorized': 5,
} as const;

export type RefusalReason = keyof typeof refusalCodes;

/** A connection the broker must refuse; the message is for logs, never sent to the client. */
export class BrokerRefusal extends Error {
  override name = 'BrokerRefusal';

  constructor(
    readonly reason: RefusalReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How a broker decides who may connect; what they may then touch follows from who they are. */
export interface BrokerAccess {
  /** The principal the attempt proves, or a BrokerRefusal. */
  authenticate(attempt: ConnectAttempt): Promise<BrokerPrincipal>;
  /** Which of these devices are still registered: one call covers every connected device. */
  registeredDevices(deviceIds: readonly string[]): Promise<Set<string>>;
}

/**
 * Admits the process's own in-memory connections and nobody else: what an
 * embedded broker does when it was given no way to check credentials.
 */
export const inProcessOnly: BrokerAccess = {
  async authenticate(attempt) {
    if (attempt.inProcess) return { kind: 'service' };
    throw new BrokerRefusal('not-authorized', 'this broker admits only in-process connections');
  },
  async registeredDevices() {
    return new Set();
  },
};
