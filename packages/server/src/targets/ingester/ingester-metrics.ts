import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from '../../platform/metrics/create-metrics.js';

export type Channel = 'state' | 'telemetry' | 'logs' | 'events' | 'disconnects';
/** What a batch was written to. */
export type Store = 'kv_state' | 'kv_presence' | 'telemetry' | 'logs' | 'devices';

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const lagBuckets = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60,
];
const sizeBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/** The ingester's Prometheus metrics; `rate(flock_ingester_messages_total[1m])` is messages/s. */
export class IngesterMetrics {
  readonly messages: Counter<'channel'>;
  readonly invalid: Counter<'channel'>;
  readonly unknownDevice: Counter<'channel'>;
  readonly dropped: Counter<'channel' | 'reason'>;
  readonly writeRetries: Counter<'store'>;
  readonly batchSize: Histogram<'store'>;
  readonly writeSeconds: Histogram<'store'>;
  readonly lagSeconds: Histogram;
  readonly transitions: Counter<'to' | 'reason'>;
  readonly online: Gauge;
  readonly purged: Counter<'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.messages = new Counter({
      name: 'flock_ingester_messages_total',
      help: 'Device messages accepted, by channel',
      labelNames: ['channel'],
      registers,
    });
    this.invalid = new Counter({
      name: 'flock_ingester_invalid_messages_total',
      help: 'Device messages dropped because they failed validation, by channel',
      labelNames: ['channel'],
      registers,
    });
    this.unknownDevice = new Counter({
      name: 'flock_ingester_unknown_device_messages_total',
      help: 'Device messages dropped because no registered device has the id in their topic',
      labelNames: ['channel'],
      registers,
    });
    this.dropped = new Counter({
      name: 'flock_ingester_dropped_total',
      help: 'Valid messages dropped: overflow (QoS 0 backlog full) or write_failed (refused by the store)',
      labelNames: ['channel', 'reason'],
      registers,
    });
    this.writeRetries = new Counter({
      name: 'flock_ingester_write_retries_total',
      help: 'Batch writes that failed and are retried, by store',
      labelNames: ['store'],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'flock_ingester_batch_size',
      help: 'Items per batch write, by store',
      labelNames: ['store'],
      buckets: sizeBuckets,
      registers,
    });
    this.writeSeconds = new Histogram({
      name: 'flock_ingester_write_seconds',
      help: 'Duration of one batch write, by store',
      labelNames: ['store'],
      buckets: latencyBuckets,
      registers,
    });
    this.lagSeconds = new Histogram({
      name: 'flock_ingester_lag_seconds',
      help: "From a heartbeat's sent_at (device clock) to its reported state stored in the KV store",
      buckets: lagBuckets,
      registers,
    });
    this.transitions = new Counter({
      name: 'flock_ingester_presence_transitions_total',
      help: 'Devices going online or offline, and why',
      labelNames: ['to', 'reason'],
      registers,
    });
    this.online = new Gauge({
      name: 'flock_ingester_online_devices',
      help: 'Devices online now, as of the last sweep (the same on every ingester: use max())',
      registers,
    });
    this.purged = new Counter({
      name: 'flock_ingester_purged_rows_total',
      help: 'Time-series rows deleted by retention, by kind',
      labelNames: ['kind'],
      registers,
    });
  }

  /** Times `write` and records its batch size under `store`. */
  async timed<T>(store: Store, size: number, write: () => Promise<T>): Promise<T> {
    this.batchSize.observe({ store }, size);
    const end = this.writeSeconds.startTimer({ store });
    try {
      return await write();
    } finally {
      end();
    }
  }
}
