import {
  allDevices,
  type DeviceUplink,
  internalTopics,
  parseDeviceTopic,
  parseInternalMessage,
  type MessageOf,
  parseMessage,
  type StoredDeviceEvent,
} from '@flock/protocol';
import type { Bus, BusMessage, Subscription } from '../../platform/bus/bus.js';
import type { Database } from '../../platform/db/database.js';
import { KvLease } from '../../platform/kv/kv-lease.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Logger } from '../../platform/log/create-logger.js';
import type {
  LogRecord,
  TelemetrySample,
  TimeseriesStore,
} from '../../platform/timeseries/timeseries-store.js';
import type { Coalescer } from './coalescer.js';
import { DeviceDirectory, type DeviceRef } from './device-directory.js';
import { type DeviceRowUpdate, deviceRows } from './device-rows.js';
import type { Channel, IngesterMetrics } from './ingester-metrics.js';
import { LeasedTask } from './leased-task.js';
import { MessageDrops } from './message-drops.js';
import { ingesterBatcher } from './ingester-batcher.js';
import type { MicroBatcher } from './micro-batcher.js';
import { Presence, type Sighting } from './presence.js';
import { purgeExpired } from './retention.js';
import { type Heartbeat, heartbeatOf, stateWriter } from './state-writer.js';
import { logRecords, telemetrySample } from './timeseries-records.js';

export interface IngesterOptions {
  database: Database;
  kv: KvStore;
  bus: Bus;
  timeseries: TimeseriesStore;
  log: Logger;
  metrics: IngesterMetrics;
  /** Silence after which a device is offline. */
  offlineTimeoutMs: number;
  /** Connections sharing the state topic (each has the broker's in-flight window). */
  stateConnections: number;
  retentionDays: { telemetry: number; logs: number };
  now?: () => number;
  sweepIntervalMs?: number;
  deviceRowsIntervalMs?: number;
  retentionIntervalMs?: number;
  /** How long a graceful stop waits for unwritten batches before leaving them to redelivery. */
  stopDeadlineMs?: number;
}

const kib = 1024;
/** Larger messages are dropped as invalid: no agent sends them. */
const maxPayloadBytes: Record<DeviceUplink, number> = {
  state: 64 * kib,
  telemetry: 16 * kib,
  logs: 4 * kib * kib,
  events: 64 * kib,
};

/** What a handler returns: a promise when the message is acknowledged later. */
type Handled = Promise<void> | undefined;

/** Shared subscription groups, one per channel, so a slow channel never holds back another. */
export const ingesterGroups = {
  state: 'ingesters-state',
  telemetry: 'ingesters-telemetry',
  logs: 'ingesters-logs',
  events: 'ingesters-events',
  disconnects: 'ingesters-presence',
} as const satisfies Record<Channel, string>;

/**
 * The ingester: device MQTT topics in, live state (KV), presence, time series
 * (database) and internal events out. Handlers resolve, and so acknowledge
 * their QoS 1 message, only once its effect is stored.
 */
export class Ingester {
  readonly #o: Required<Omit<IngesterOptions, 'now'>> & { now: () => number };
  readonly #directory: DeviceDirectory;
  readonly #drops: MessageDrops;
  readonly #presence: Presence;
  readonly #rows: Coalescer<string, DeviceRowUpdate>;
  readonly #states: MicroBatcher<Heartbeat>;
  readonly #sightings: MicroBatcher<Sighting>;
  readonly #telemetry: MicroBatcher<TelemetrySample>;
  readonly #logs: MicroBatcher<LogRecord[]>;
  readonly #tasks: LeasedTask[];
  readonly #subscriptions: Subscription[] = [];
  #stopping: Promise<void> | undefined;
  readonly #accepted: Record<DeviceUplink, { inc(): void }>;

  constructor(options: IngesterOptions) {
    const o = {
      now: Date.now,
      sweepIntervalMs: Math.min(Math.max(options.offlineTimeoutMs / 6, 250), 15_000),
      deviceRowsIntervalMs: 5_000,
      retentionIntervalMs: 3600_000,
      stopDeadlineMs: 5_000,
      ...options,
    };
    this.#o = o;
    const { kv, metrics, log, now } = o;
    this.#directory = new DeviceDirectory({ db: o.database.db, now });
    const accepted = (channel: DeviceUplink) => metrics.messages.labels({ channel });
    this.#accepted = {
      state: accepted('state'),
      telemetry: accepted('telemetry'),
      logs: accepted('logs'),
      events: accepted('events'),
    };
    this.#drops = new MessageDrops(metrics, log, now);
    this.#presence = new Presence({ ...o, directory: this.#directory });
    this.#rows = deviceRows({ ...o, intervalMs: o.deviceRowsIntervalMs });
    const batcherContext = { metrics, log, drops: this.#drops };
    const kvUp = () => kv.ping().then(() => true);
    const dbUp = () => o.database.ping().then(() => true);
    this.#states = ingesterBatcher(batcherContext, 'kv_state', 'state', {
      write: stateWriter({ ...o, presence: this.#presence, rows: this.#rows }),
      maxWeight: 250,
      maxDelayMs: 5,
      concurrency: 4,
      available: kvUp,
      deviceOf: (h) => h.ref.deviceId,
    });
    this.#sightings = ingesterBatcher(batcherContext, 'kv_presence', 'telemetry', {
      write: (sightings) => this.#presence.seen(sightings),
      maxWeight: 500,
      maxDelayMs: 20,
      concurrency: 2,
      available: kvUp,
      deviceOf: (s) => s.ref.deviceId,
    });
    this.#telemetry = ingesterBatcher(batcherContext, 'telemetry', 'telemetry', {
      write: (samples) => o.timeseries.writeTelemetry(samples),
      maxWeight: 1_000,
      maxDelayMs: 1_000,
      concurrency: 2,
      // QoS 0: nothing is acknowledged, so a backlog past this is dropped, not queued.
      maxPendingWeight: 50_000,
      available: dbUp,
      deviceOf: (s) => s.deviceId,
    });
    this.#logs = ingesterBatcher(batcherContext, 'logs', 'logs', {
      write: (messages) => o.timeseries.writeLogs(messages.flat()),
      maxWeight: 2_000,
      maxDelayMs: 250,
      concurrency: 2,
      available: dbUp,
      deviceOf: (lines) => lines[0]?.deviceId ?? '',
    });
    this.#tasks = [
      new LeasedTask({
        name: 'offline sweep',
        lease: new KvLease({ kv, key: 'ingester:lease:sweep', ttlMs: o.sweepIntervalMs * 3 }),
        intervalMs: o.sweepIntervalMs,
        run: async () => void (await this.#presence.sweep()),
        log,
      }),
      new LeasedTask({
        name: 'retention purge',
        lease: new KvLease({
          kv,
          key: 'ingester:lease:retention',
          ttlMs: o.retentionIntervalMs * 2,
        }),
        intervalMs: o.retentionIntervalMs,
        firstRunMs: Math.min(o.retentionIntervalMs, 60_000),
        run: (signal) =>
          purgeExpired({ store: o.timeseries, metrics, days: o.retentionDays, now }, signal),
        log,
      }),
    ];
  }

  /** Runs the offline sweep once, when this ingester holds its lease; for tests and tools. */
  sweepNow(): Promise<void> {
    return this.#tasks[0]!.runNow();
  }

  async start(): Promise<void> {
    const { bus, stateConnections } = this.#o;
    const uplink = (
      channel: DeviceUplink,
      handler: (message: BusMessage) => Handled,
      qos: 0 | 1,
      members = 1,
    ) =>
      bus.subscribe(allDevices(channel), handler, {
        qos,
        group: ingesterGroups[channel],
        members,
      });
    // All at once: a persistent session delivers what it kept as soon as it
    // reconnects, and every handler must be in place by then.
    const subscribed = await Promise.allSettled([
      uplink('state', (m) => this.#onState(m), 1, stateConnections),
      uplink('telemetry', (m) => this.#onTelemetry(m), 0),
      uplink('logs', (m) => this.#onLogs(m), 1),
      uplink('events', (m) => this.#onEvent(m), 1),
      bus.subscribe(internalTopics.clientDisconnected, (m) => this.#onDisconnect(m), {
        qos: 1,
        group: ingesterGroups.disconnects,
      }),
    ]);
    for (const outcome of subscribed) {
      if (outcome.status === 'fulfilled') this.#subscriptions.push(outcome.value);
    }
    const failed = subscribed.find((outcome) => outcome.status === 'rejected');
    if (failed !== undefined) {
      await this.stop();
      throw new Error('the ingester cannot subscribe to device topics', { cause: failed.reason });
    }
    this.#rows.start();
    for (const task of this.#tasks) task.start();
  }

  /**
   * Leaves the groups first, so the broker hands new messages to the other
   * ingesters, then writes what it holds; what cannot be written in time
   * stays unacknowledged for the broker to deliver again.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.unsubscribe()));
    await Promise.allSettled(this.#tasks.map((task) => task.stop()));
    const batchers = [this.#states, this.#sightings, this.#logs, this.#telemetry];
    const deadline = new Promise<void>((resolve) => {
      setTimeout(resolve, this.#o.stopDeadlineMs).unref();
    });
    await Promise.race([Promise.all(batchers.map((b) => b.flush())), deadline]);
    for (const batcher of batchers) batcher.abandon();
    await Promise.race([this.#rows.stop(), deadline]);
    this.#directory.close();
  }

  /**
   * Checks a device message and hands it to `then` with its device, or drops
   * it (counted and logged). Synchronous when the device is cached, as it
   * nearly always is: no promise and no suspended frame per message.
   */
  #accept<K extends DeviceUplink>(
    channel: K,
    message: BusMessage,
    then: (ref: DeviceRef, value: MessageOf<K>, receivedAt: number, text: string) => Handled,
  ): Handled {
    const receivedAt = this.#o.now();
    const deviceId = parseDeviceTopic(message.topic)?.deviceId;
    if (deviceId === undefined) {
      this.#drops.invalid(channel, undefined, `unexpected topic ${message.topic}`);
      return undefined;
    }
    // Schemas bound arrays and strings but not unknown properties, which are kept.
    if (message.payload.length > maxPayloadBytes[channel]) {
      const problem = `payload larger than ${maxPayloadBytes[channel]} bytes`;
      this.#drops.invalid(channel, deviceId, problem);
      return undefined;
    }
    const text = message.payload.toString('utf8');
    const parsed = parseMessage(channel, text);
    if (!parsed.ok) {
      this.#drops.invalid(channel, deviceId, parsed.error);
      return undefined;
    }
    const proceed = (ref: DeviceRef | null): Handled => {
      if (ref === null) {
        this.#drops.unknownDevice(channel, deviceId);
        return undefined;
      }
      this.#accepted[channel].inc();
      return then(ref, parsed.value, receivedAt, text);
    };
    const ref = this.#directory.lookup(deviceId);
    return ref instanceof Promise ? ref.then(proceed) : proceed(ref);
  }

  #onState(message: BusMessage): Handled {
    return this.#accept('state', message, (ref, value, receivedAt, text) =>
      this.#states.add(heartbeatOf(ref, value, text, receivedAt)),
    );
  }

  #onTelemetry(message: BusMessage): Handled {
    return this.#accept('telemetry', message, (ref, value, receivedAt) => {
      void this.#seen(ref, receivedAt);
      void this.#telemetry.add(telemetrySample(ref, value, receivedAt));
      return undefined;
    });
  }

  #onLogs(message: BusMessage): Handled {
    return this.#accept('logs', message, async (ref, value, receivedAt) => {
      const records = logRecords(ref, value, receivedAt);
      await Promise.all([this.#logs.add(records, records.length), this.#seen(ref, receivedAt)]);
    });
  }

  #onEvent(message: BusMessage): Handled {
    return this.#accept('events', message, (ref, value, receivedAt) =>
      this.#forwardEvent(ref, value, receivedAt),
    );
  }

  async #forwardEvent(
    ref: DeviceRef,
    event: StoredDeviceEvent['event'],
    receivedAt: number,
  ): Promise<void> {
    const stored: StoredDeviceEvent = {
      v: 1,
      device_id: ref.deviceId,
      org_id: ref.orgId,
      fleet_id: ref.fleetId,
      received_at: new Date(receivedAt).toISOString(),
      event,
    };
    await Promise.all([
      this.#o.bus.publish(internalTopics.deviceEvent, JSON.stringify(stored), { qos: 1 }),
      this.#seen(ref, receivedAt),
    ]);
  }

  #seen(ref: DeviceRef, at: number): Promise<void> {
    this.#rows.note(ref.deviceId, { lastSeenAt: at });
    return this.#sightings.add({ ref, at });
  }

  async #onDisconnect(message: BusMessage): Promise<void> {
    const parsed = parseInternalMessage('clientDisconnected', message.payload);
    if (!parsed.ok) {
      this.#drops.invalid('disconnects', undefined, parsed.error);
      return;
    }
    // Other clients (Flock's own processes) disconnect too; only devices matter.
    const ref = await this.#directory.lookup(parsed.value.client_id);
    if (ref !== null) await this.#presence.disconnected(ref, Date.parse(parsed.value.at));
  }
}
