export type Qos = 0 | 1;

export interface BusMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

export interface PublishOptions {
  qos?: Qos;
  retain?: boolean;
}

export interface SubscribeOptions {
  qos?: Qos;
  /** Join a shared subscription group: each message goes to one member of the group. */
  group?: string;
  /**
   * With `group`: join as this many members, each its own connection (default
   * 1). A broker stops sending to a connection once a few QoS 1 messages wait
   * for their acknowledgement (Mosquitto: 20, EMQX: 32), so a handler that
   * acknowledges after a batched write needs several to keep messages flowing.
   */
  members?: number;
}

/**
 * Resolves when processing is done; for QoS 1 the broker's acknowledgement
 * waits for it, so a message is never acknowledged before it is handled.
 */
export type MessageHandler = (message: BusMessage) => void | Promise<void>;

export interface Subscription {
  unsubscribe(): Promise<void>;
}

/**
 * The MQTT message bus between devices and targets and between targets.
 * Topics are given without the deployment's topic prefix; the bus adds and
 * strips it.
 */
export interface Bus {
  readonly kind: 'mqtt' | 'embedded';
  publish(topic: string, payload: Buffer | string, options?: PublishOptions): Promise<void>;
  subscribe(
    filter: string,
    handler: MessageHandler,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  /** Throws when the bus is not connected. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
