import { randomBytes } from 'node:crypto';
import type { DeviceStateMessage } from '@flock/protocol';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { connect, MqttClient } from 'mqtt';
import type { Bus, BusMessage } from '../../src/platform/bus/bus.js';
import {
  type EmbeddedBroker,
  startEmbeddedBroker,
} from '../../src/platform/bus/embedded-broker.js';
import { MqttBus } from '../../src/platform/bus/mqtt-bus.js';
import { deviceLiveKeys, reportedFields } from '../../src/platform/kv/device-live-keys.js';
import type { KvStore } from '../../src/platform/kv/kv-store.js';
import { MemoryKvStore } from '../../src/platform/kv/memory-kv-store.js';
import { RedisKvStore } from '../../src/platform/kv/redis-kv-store.js';
import { PostgresTimeseriesStore } from '../../src/platform/timeseries/postgres-timeseries-store.js';
import { Ingester, type IngesterOptions } from '../../src/targets/ingester/ingester.js';
import { IngesterMetrics } from '../../src/targets/ingester/ingester-metrics.js';
import { testDatabaseUrl } from './postgres.js';
import { testKvUrl, uniquePrefix } from './redis.js';
import { openTestDatabase, type TestDatabase } from './test-database.js';

export const testMqttUrl = (): string | undefined => {
  const url = process.env.FLOCK_TEST_MQTT_URL?.trim();
  return url === undefined || url === '' ? undefined : url;
};

/** Embedded everything always; PostgreSQL, Redis and Mosquitto when all are configured. */
export type IngesterBackend = 'embedded' | 'external';
export const ingesterBackends: readonly IngesterBackend[] =
  testDatabaseUrl() && testKvUrl() && testMqttUrl() ? ['embedded', 'external'] : ['embedded'];

export interface RunningIngester {
  ingester: Ingester;
  registry: Registry;
  /** A counter's value for these labels, 0 when never incremented. */
  counter(name: string, labels?: Record<string, string>): Promise<number>;
  /** How many observations a histogram holds. */
  observations(name: string): Promise<number>;
  stop(): Promise<void>;
}

export interface IngesterHarness {
  db: TestDatabase;
  kv: KvStore;
  /** A bus devices publish through, and tests listen on. */
  bus: Bus;
  /** What the buses put before every topic on the wire. */
  topicPrefix: string;
  startIngester(overrides?: Partial<IngesterOptions>): Promise<RunningIngester>;
  /** Stops every ingester started so far: a test that failed half way leaves none behind. */
  stopIngesters(): Promise<void>;
  /** A device's own MQTT connection, with its id as client id; only into the embedded broker. */
  connectDevice?(deviceId: string): Promise<MqttClient>;
  /** Records what arrives on `filter` from now on. */
  listen(filter: string): Promise<BusMessage[]>;
  close(): Promise<void>;
}

const log = pino({ level: process.env.FLOCK_TEST_LOG_LEVEL ?? 'silent' });

export interface LiveState {
  online: boolean;
  state: DeviceStateMessage | null;
  receivedAt: string | null;
}

/** What the KV store holds for these devices, in the layout the API reads (deviceLiveKeys). */
export async function liveStates(kv: KvStore, deviceIds: readonly string[]): Promise<LiveState[]> {
  const [hashes, scores] = await Promise.all([
    kv.hgetallMany(deviceIds.map((id) => deviceLiveKeys.reported(id))),
    kv.zscoreMany(deviceLiveKeys.presence, [...deviceIds]),
  ]);
  return deviceIds.map((_, i) => {
    const state = hashes[i]?.[reportedFields.state];
    return {
      online: scores[i] != null,
      state: state === undefined ? null : (JSON.parse(state) as DeviceStateMessage),
      receivedAt: hashes[i]?.[reportedFields.receivedAt] ?? null,
    };
  });
}

/** A heartbeat a device could send; `uptime` tells messages apart. */
export function heartbeat(uptime: number, extra: Partial<DeviceStateMessage> = {}): string {
  const state: DeviceStateMessage = {
    v: 1,
    sent_at: new Date().toISOString(),
    running_release_id: null,
    services: [{ name: 'web', image: 'nginx@sha256:' + 'a'.repeat(64), status: 'running' }],
    agent_version: '0.1.0',
    uptime_seconds: uptime,
    addresses: ['10.0.0.2'],
    ...extra,
  };
  return JSON.stringify(state);
}

/**
 * Ingesters on one database, KV store and broker: PGlite, memory and the
 * embedded broker, or the real services. Ingesters get small timeouts and a
 * metrics registry each.
 */
export async function startIngesterHarness(backend: IngesterBackend): Promise<IngesterHarness> {
  const external = backend === 'external';
  const db = await openTestDatabase(external ? 'postgres' : 'pglite');
  const kv = external
    ? await RedisKvStore.open({ url: testKvUrl() ?? '', keyPrefix: uniquePrefix('ingester'), log })
    : new MemoryKvStore();
  const topicPrefix = `flock-test-${randomBytes(6).toString('hex')}/`;
  const broker: EmbeddedBroker | undefined = external
    ? undefined
    : await startEmbeddedBroker({ host: '127.0.0.1', port: 0, wsPort: 0, log, topicPrefix });
  const buses: Bus[] = [];
  // A bus per ingester, as each would have in its own process.
  const newBus = async (): Promise<Bus> => {
    const url = testMqttUrl() ?? '';
    const bus = await MqttBus.connect({
      kind: external ? 'mqtt' : 'embedded',
      topicPrefix,
      clientId: `flock-test-${randomBytes(6).toString('hex')}`,
      log,
      createClient: (options) =>
        broker === undefined
          ? connect(url, options)
          : new MqttClient(() => broker.connect(), options),
    });
    buses.push(bus);
    return bus;
  };
  const bus = await newBus();
  const ingesters: RunningIngester[] = [];

  return {
    db,
    kv,
    bus,
    topicPrefix,
    async startIngester(overrides = {}) {
      const registry = new Registry();
      const ingester = new Ingester({
        database: db.database,
        kv,
        bus: await newBus(),
        timeseries: new PostgresTimeseriesStore(db.database.db),
        log,
        metrics: new IngesterMetrics(registry),
        offlineTimeoutMs: 60_000,
        stateConnections: 2,
        retentionDays: { telemetry: 30, logs: 7 },
        deviceRowsIntervalMs: 50,
        ...overrides,
      });
      await ingester.start();
      const running: RunningIngester = {
        ingester,
        registry,
        async counter(name, labels = {}) {
          const metric = registry.getSingleMetric(name);
          if (metric === undefined) throw new Error(`no metric ${name}`);
          const { values } = await metric.get();
          return values
            .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
            .reduce((sum, v) => sum + v.value, 0);
        },
        async observations(name) {
          const metric = registry.getSingleMetric(name);
          if (metric === undefined) throw new Error(`no metric ${name}`);
          // Histogram values carry their series name; the type of get() leaves it out.
          const values = (await metric.get()).values as { metricName?: string; value: number }[];
          return values.find((v) => v.metricName === `${name}_count`)?.value ?? 0;
        },
        stop: () => ingester.stop(),
      };
      ingesters.push(running);
      return running;
    },
    ...(broker === undefined
      ? {}
      : {
          async connectDevice(deviceId: string) {
            const client = new MqttClient(() => broker.connect(), {
              clientId: deviceId,
              protocolVersion: 4,
              reconnectPeriod: 0,
            });
            await new Promise((resolve) => client.once('connect', resolve));
            return client;
          },
        }),
    async stopIngesters() {
      await Promise.all(ingesters.splice(0).map((running) => running.stop()));
    },
    async listen(filter) {
      const received: BusMessage[] = [];
      await bus.subscribe(filter, (message) => void received.push(message), { qos: 1 });
      return received;
    },
    async close() {
      for (const running of ingesters.splice(0)) await running.stop();
      for (const opened of buses.splice(0)) await opened.close();
      await broker?.close();
      if (external) {
        const keys: string[] = [];
        for await (const key of kv.keys('')) keys.push(key);
        await kv.del(keys);
      }
      await kv.close();
      await db.close();
    },
  };
}
