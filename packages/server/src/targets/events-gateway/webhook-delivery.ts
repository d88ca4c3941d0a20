import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { publicEventsFilter } from '@flock/protocol';
import { version } from '../../app/version.js';
import type { Bus, Subscription } from '../../platform/bus/bus.js';
import type { Config } from '../../platform/config/settings.js';
import { loadSecretKey } from '../../platform/crypto/load-secret-key.js';
import { SecretBox } from '../../platform/crypto/secret-box.js';
import type { Database } from '../../platform/db/database.js';
import type { Logger } from '../../platform/log/create-logger.js';
import type { Registry } from '../../platform/metrics/create-metrics.js';
import { WebhookTargetGuard } from '../../platform/webhooks/webhook-target-guard.js';
import { DeliveryMetrics } from './delivery-metrics.js';
import { RetrySchedule } from './retry-schedule.js';
import { WebhookDeliverer } from './webhook-deliverer.js';
import { WebhookSender } from './webhook-sender.js';

// Beyond the request timeout, the time to write an outcome before the claim lapses.
const leaseMarginMs = 5_000;
const pollMs = 1_000;
// Long enough to spare most claims at a steady rate, short enough that one
// subscription's backlog does not hold a worker for long.
const runLength = 20;

export interface WebhookDelivery {
  deliverer: WebhookDeliverer;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The webhook delivery workers of one gateway process, from configuration.
 * Every gateway hears every public event on the bus (not as a shared
 * group): whichever published it, each replica looks for due rows at once
 * instead of at its next poll, and SKIP LOCKED shares the rows out.
 */
export async function createWebhookDelivery(options: {
  config: Config;
  database: Database;
  bus: Bus;
  log: Logger;
  registry: Registry;
}): Promise<WebhookDelivery> {
  const { config, database, bus, log, registry } = options;
  const schedule = new RetrySchedule(config.webhooksRetrySchedule);
  const deliverer = new WebhookDeliverer({
    database,
    sender: new WebhookSender({
      guard: new WebhookTargetGuard({ allowPrivate: config.webhooksAllowPrivate }),
      timeoutMs: config.webhooksTimeoutMs,
      userAgent: `Flock-Webhooks/${version}`,
    }),
    box: new SecretBox(await loadSecretKey(config.secretKey, config.dataDir)),
    schedule,
    disableAfterFailures: config.webhooksDisableAfterFailures ?? schedule.attempts,
    concurrency: config.webhooksConcurrency,
    runLength,
    leaseMs: config.webhooksTimeoutMs + leaseMarginMs,
    workerId: `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`,
    pollMs,
    log: log.child({ part: 'webhooks' }),
    metrics: new DeliveryMetrics(registry),
  });
  let announcements: Subscription | undefined;
  return {
    deliverer,
    async start() {
      announcements = await bus.subscribe(publicEventsFilter(), () => deliverer.nudge());
      await deliverer.start();
      log.info(
        {
          allowPrivate: config.webhooksAllowPrivate,
          attempts: schedule.attempts,
          concurrency: config.webhooksConcurrency,
          runLength,
        },
        'delivering webhooks',
      );
    },
    async stop() {
      await announcements?.unsubscribe();
      await deliverer.stop();
    },
  };
}
