import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { DeviceTokens } from '../../src/platform/auth/device-tokens.js';
import { FlockBrokerAccess } from '../../src/platform/bus/flock-broker-access.js';
import { type OpenedBus, openBus } from '../../src/platform/bus/open-bus.js';
import { deviceRegistrationRoutes } from '../../src/targets/api/devices/device-registration-routes.js';
import { startTestApi, type TestApi } from './api-harness.js';
import { waitFor } from './wait-for.js';

export const testServicePassword = 'service-password-for-tests';

/** How mqtt.js rejects a subscription the broker answered with failure (0x80). */
export const refusedSubscription = { packet: { granted: [128] } };

export interface TestDevice {
  id: string;
  token: string;
}

export interface SecuredBroker {
  api: TestApi;
  /** The in-process bus and its embedded broker, which checks device tokens against `api`'s database. */
  opened: OpenedBus;
  tcpUrl: string;
  wsUrl: string;
  fleetId: string;
  /** Inserts a device and signs it a token with `tokens` (default: the API's). */
  newDevice(tokens?: DeviceTokens): Promise<TestDevice>;
  /** Tokens whose clock runs `offsetMs` behind, so they expire that much sooner. */
  tokensIssuedAgo(offsetMs: number, ttlSeconds: number): DeviceTokens;
  /** An MQTT 3.1.1 client without automatic reconnects. */
  connect(options: IClientOptions, url?: string): Promise<MqttClient>;
  connectDevice(device: TestDevice, options?: IClientOptions): Promise<MqttClient>;
  /** What the backend sees on a filter, through the in-process bus. */
  backendSees(filter: string): Promise<string[]>;
  /** Ends every client connected so far. */
  endClients(): Promise<void>;
  close(): Promise<void>;
}

/** The API harness on PGlite and an embedded broker secured the way flock-server secures it. */
export async function startSecuredBroker(): Promise<SecuredBroker> {
  const log = pino({ level: process.env.FLOCK_TEST_LOG_LEVEL ?? 'silent' });
  const api = await startTestApi({ backend: 'pglite', routes: [deviceRegistrationRoutes] });
  const access = new FlockBrokerAccess({
    devices: api.services.deviceTokens,
    db: api.database.db,
    servicePassword: testServicePassword,
  });
  const opened = await openBus({
    topicPrefix: '',
    host: '127.0.0.1',
    port: 0,
    wsPort: 0,
    log,
    access,
  });
  const [tcpUrl = '', wsUrl = ''] = opened.listeners;
  const orgId = await api.createOrg();
  const fleetId = await api.createFleet(orgId);
  const clients: MqttClient[] = [];

  const connect = async (options: IClientOptions, url = tcpUrl) => {
    const client = await connectAsync(url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      ...options,
    });
    clients.push(client);
    return client;
  };

  return {
    api,
    opened,
    tcpUrl,
    wsUrl,
    fleetId,
    async newDevice(tokens = api.services.deviceTokens) {
      const id = await api.createDevice(orgId, fleetId);
      const { token } = await tokens.sign({ id, orgId, fleetId });
      return { id, token };
    },
    tokensIssuedAgo(offsetMs, ttlSeconds) {
      return new DeviceTokens(api.database.db, api.services.secretBox, {
        issuer: api.services.deviceTokens.issuer,
        ttlSeconds,
        rotationMs: 3_600_000,
        now: () => new Date(Date.now() - offsetMs),
      });
    },
    connect,
    connectDevice(device, options = {}) {
      return connect({
        clientId: device.id,
        username: device.id,
        password: device.token,
        ...options,
      });
    },
    async backendSees(filter) {
      const seen: string[] = [];
      await opened.bus.subscribe(
        filter,
        (message) => void seen.push(`${message.topic} ${message.payload.toString()}`),
        { qos: 1 },
      );
      return seen;
    },
    async endClients() {
      await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
    },
    async close() {
      await opened.bus.close();
      await api.close();
    },
  };
}

/** Resolves once the broker closed the client's connection. */
export async function closed(client: MqttClient): Promise<true> {
  await waitFor(() => !client.connected, {
    timeoutMs: 10_000,
    message: 'the broker closing the connection',
  });
  return true;
}

/** Every message the client receives, as `topic payload`. */
export function received(client: MqttClient): string[] {
  const payloads: string[] = [];
  client.on('message', (topic, payload) => payloads.push(`${topic} ${payload.toString()}`));
  return payloads;
}
