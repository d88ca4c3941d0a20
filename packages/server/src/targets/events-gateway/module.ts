import type { ModuleDefinition } from '../../app/module.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Database } from '../../platform/db/database.js';
import type { HttpServer } from '../../platform/http/http-module.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import { EventRetention } from './event-retention.js';
import { EventsGateway } from './events-gateway.js';
import { createWebhookDelivery } from './webhook-delivery.js';

export interface EventsGatewayDeps {
  /** Serves /metrics, /healthz and /readyz; the customer-facing routes are the api's. */
  http: HttpServer;
  db: Database;
  kv: KvStore;
  bus: Bus;
}

/** Public events and their webhooks (docs/events.md). */
export const eventsGatewayModule: ModuleDefinition<void, EventsGatewayDeps> = {
  async init({ config, log: rootLog, metrics }, { db, kv, bus }) {
    const log = rootLog.child({ module: 'events-gateway' });
    const gateway = new EventsGateway({ db: db.db, kv, bus, log, registry: metrics });
    const delivery = await createWebhookDelivery({
      config,
      database: db,
      bus,
      log,
      registry: metrics,
    });
    gateway.pipeline.onRecorded(() => delivery.deliverer.nudge());
    gateway.parts.push(delivery);
    gateway.parts.push(
      new EventRetention({
        db: db.db,
        log,
        retentionMs: config.eventsRetentionHours * 3_600_000,
        intervalMs: 600_000,
        now: () => new Date(),
      }),
    );
    return {
      exports: undefined,
      async start() {
        await gateway.start();
        log.info('translating internal events into public events');
      },
      stop: () => gateway.stop(),
    };
  },
};
