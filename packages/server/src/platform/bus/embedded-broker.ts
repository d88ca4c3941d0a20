import type { EventEmitter } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type Server } from 'node:net';
import { type Duplex, duplexPair } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Aedes } from 'aedes';
import { createWebSocketStream, type WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../log/create-logger.js';
import { type BrokerAccess, inProcessOnly } from './broker-access.js';
import { BrokerAcl } from './broker-acl.js';
import { announceDisconnects } from './announce-disconnects.js';
import { BrokerGuard } from './broker-guard.js';
import { SharedSubscriptions } from './shared-subscriptions.js';

export interface EmbeddedBrokerOptions {
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** MQTT-over-WebSocket port; 0 picks a free one. */
  wsPort: number;
  log: Logger;
  /** Who may connect; by default only the process's own in-memory connections. */
  access?: BrokerAccess;
  /** The installation's topic prefix, under which each device's own topics live. */
  topicPrefix?: string;
  /** How often connected devices are re-checked (default 5 s). */
  sweepIntervalMs?: number;
  /** Refuse connections from outside the process until `admit()` (default: admit at once). */
  admitLater?: boolean;
}

export interface EmbeddedBroker {
  /** Where devices can reach the broker: an mqtt:// and a ws:// URL. */
  readonly listeners: readonly string[];
  /** A new connection into the broker that never leaves the process. */
  connect(): Duplex;
  /** Clients in each shared subscription group, keyed by `$share/<group>/<filter>`. */
  sharedGroups(): Map<string, number>;
  /** Disconnects a device's connections at once; returns how many there were. */
  disconnectDevice(deviceId: string): number;
  /** Lets devices in, with `admitLater`. */
  admit(): void;
  /**
   * Stops taking device publishes (they stay unacknowledged) and resolves once
   * those already routed were acknowledged by their groups, or after `timeoutMs`.
   */
  quiesce(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * An aedes MQTT 3.1.1 broker inside the process, so a single binary serves
 * devices without an external broker; it listens on TCP and on WebSocket,
 * admits clients and limits their topics through `access`
 * (docs/decisions/0300-broker-authentication.md), adds the shared
 * subscriptions aedes lacks, and announces connections that end. A device's
 * QoS 1 publish is acknowledged only once the groups it went to acknowledged
 * it (docs/decisions/0320-embedded-broker-acknowledges-after-store.md).
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { log } = options;
  const guard = new BrokerGuard({
    access: options.access ?? inProcessOnly,
    acl: new BrokerAcl(options.topicPrefix ?? ''),
    log,
    sweepIntervalMs: options.sweepIntervalMs,
    admitLater: options.admitLater,
  });
  // Only devices: an in-process publisher whose handlers publish in turn
  // could wait on itself, as aedes reads no further packets from a connection
  // until every publish it already read is acknowledged.
  const shared = new SharedSubscriptions({ log, confirmedFor: (client) => guard.isDevice(client) });
  const aedes = await Aedes.createBroker(guard.hooks(shared.hooks()));
  shared.attach(aedes);
  guard.attach(aedes);
  const stopAnnouncing = announceDisconnects(aedes, options.topicPrefix ?? '', log);
  // Without a listener an 'error' event (a failing persistence) would throw;
  // aedes's typings leave that event out.
  const emitter: EventEmitter = aedes;
  emitter.on('error', (error: Error) => log.error({ err: error }, 'embedded MQTT broker error'));
  aedes.on('clientError', (client, error) => {
    log.debug({ err: error, clientId: client.id }, 'MQTT client connection failed');
  });

  const sockets = new Set<Socket>();
  const tcp = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  const ws = new WebSocketServer({ host: options.host, port: options.wsPort });
  // It starts listening in its constructor; the outcome must be caught now.
  const wsListening = listenWs(ws);
  wsListening.catch(() => undefined);
  ws.on('connection', (socket: WebSocket, request) => {
    const stream = createWebSocketStream(socket);
    // The stream re-emits socket errors; aedes listens only once it has a client.
    stream.on('error', (error) => log.debug({ err: error }, 'MQTT WebSocket stream failed'));
    aedes.handle(stream, request);
  });

  let listeners: string[];
  try {
    const tcpAddress = await listenTcp(tcp, options.host, options.port);
    const wsAddress = await wsListening;
    listeners = [`mqtt://${formatHost(tcpAddress)}`, `ws://${formatHost(wsAddress)}`];
    tcp.on('error', (error) => log.error({ err: error }, 'embedded MQTT TCP listener failed'));
    ws.on('error', (error) => log.error({ err: error }, 'embedded MQTT WebSocket listener failed'));
  } catch (error) {
    await shutdown();
    throw new Error(`the embedded MQTT broker cannot listen on ${options.host}`, { cause: error });
  }

  async function shutdown(): Promise<void> {
    guard.close();
    stopAnnouncing();
    const tcpClosed = new Promise<void>((resolve) => tcp.close(() => resolve()));
    const wsClosed = new Promise<void>((resolve) => ws.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    // Connections that never sent CONNECT are not aedes clients yet.
    for (const socket of sockets) socket.destroy();
    for (const client of ws.clients) client.terminate();
    await Promise.all([tcpClosed, wsClosed]);
  }

  let closing: Promise<void> | undefined;
  return {
    listeners,
    connect() {
      const [clientSide, brokerSide] = duplexPair();
      // duplexPair does not tell one side that the other was destroyed.
      clientSide.once('close', () => brokerSide.destroy());
      brokerSide.once('close', () => clientSide.destroy());
      guard.trust(brokerSide);
      if (aedes.closed) clientSide.destroy(new Error('the embedded MQTT broker is closed'));
      else aedes.handle(brokerSide);
      return clientSide;
    },
    sharedGroups: () => shared.membership(),
    disconnectDevice: (deviceId) => guard.disconnectDevice(deviceId),
    admit: () => guard.admit(),
    async quiesce(timeoutMs) {
      guard.quiesce();
      const controller = new AbortController();
      await Promise.race([
        shared.idle(),
        sleep(timeoutMs, undefined, { signal: controller.signal }).catch(() => undefined),
      ]);
      controller.abort();
    },
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}

function listenTcp(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function listenWs(server: WebSocketServer): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function formatHost(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${host}:${address.port}`;
}
