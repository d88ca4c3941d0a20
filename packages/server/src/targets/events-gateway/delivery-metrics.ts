import { Counter, Histogram } from 'prom-client';
import type { Registry } from '../../platform/metrics/create-metrics.js';

/** How webhook delivery goes: attempts, their duration, and how long events wait to arrive. */
export class DeliveryMetrics {
  readonly attempts: Counter<'result'>;
  readonly requestSeconds: Histogram;
  readonly deliveryLagSeconds: Histogram;
  readonly disabled: Counter;
  readonly recordRetries: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.attempts = new Counter({
      name: 'flock_webhook_attempts_total',
      help: 'Webhook delivery attempts, by result: delivered (2xx) or failed',
      labelNames: ['result'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'flock_webhook_request_seconds',
      help: 'Duration of one webhook request, response included',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.deliveryLagSeconds = new Histogram({
      name: 'flock_webhook_delivery_lag_seconds',
      help: 'From a public event being stored to its successful delivery, retries included',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600, 86400],
      registers,
    });
    this.disabled = new Counter({
      name: 'flock_webhook_subscriptions_disabled_total',
      help: 'Subscriptions disabled because their endpoint kept failing',
      registers,
    });
    this.recordRetries = new Counter({
      name: 'flock_webhook_record_retries_total',
      help: 'Batches of delivery outcomes written again after the database refused them',
      registers,
    });
  }
}
