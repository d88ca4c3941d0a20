import { Counter, Histogram } from 'prom-client';
import type { Registry } from '../../platform/metrics/create-metrics.js';

/** Where a public event came from. */
export type EventSource = 'audit' | 'presence' | 'device_event' | 'rollout';

/** The events gateway's translation and fan-out metrics. */
export class GatewayMetrics {
  readonly events: Counter<'type'>;
  readonly duplicates: Counter<'source'>;
  readonly invalid: Counter<'source'>;
  readonly outboxRows: Counter;
  readonly lagSeconds: Histogram<'source'>;
  readonly writeRetries: Counter<'source'>;
  readonly publishFailures: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.events = new Counter({
      name: 'flock_events_gateway_events_total',
      help: 'Public events translated and stored, by type',
      labelNames: ['type'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'flock_events_gateway_duplicate_events_total',
      help: 'Translated events already stored (a replay or a redelivered message), by source',
      labelNames: ['source'],
      registers,
    });
    this.invalid = new Counter({
      name: 'flock_events_gateway_invalid_events_total',
      help: 'Translations that did not match the public catalogue and were dropped, by source',
      labelNames: ['source'],
      registers,
    });
    this.outboxRows = new Counter({
      name: 'flock_events_gateway_outbox_rows_total',
      help: 'Webhook deliveries owed: outbox rows written by fan-out',
      registers,
    });
    this.lagSeconds = new Histogram({
      name: 'flock_events_gateway_lag_seconds',
      help: 'From the moment an event occurred to its public event being stored, by source',
      labelNames: ['source'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.writeRetries = new Counter({
      name: 'flock_events_gateway_write_retries_total',
      help: 'Event batches written again after the database refused them, by source',
      labelNames: ['source'],
      registers,
    });
    this.publishFailures = new Counter({
      name: 'flock_events_gateway_publish_failures_total',
      help: 'Stored public events whose MQTT publish on flock/events/v1 failed',
      registers,
    });
  }
}
