import type { ModuleDefinition } from '../../app/module.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Database } from '../../platform/db/database.js';
import type { HttpServer } from '../../platform/http/http-module.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import { AuditFollower } from './audit-follower.js';
import { BusTranslator } from './bus-sources.js';
import { EventPipeline } from './event-pipeline.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { createWebhookDelivery } from './webhook-delivery.js';

export interface EventsGatewayDeps {
  /** Serves /metrics, /healthz and /readyz; the customer-facing routes are the api's. */
  http: HttpServer;
  db: Database;
  kv: KvStore;
  bus: Bus;
}

/** A part of the gateway that runs between start and stop. */
interface GatewayPart {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Internal events in, public events out (docs/events.md): translation and
 * fan-out into the webhook outbox, then the delivery of what it owes.
 */
export const eventsGatewayModule: ModuleDefinition<void, EventsGatewayDeps> = {
  async init({ config, log: rootLog, metrics: registry }, { db, kv, bus }) {
    const log = rootLog.child({ module: 'events-gateway' });
    const metrics = new GatewayMetrics(registry);
    const pipeline = new EventPipeline({ db: db.db, bus, log, metrics });
    // Started in this order and stopped in reverse; the delivery workers,
    // which drain the outbox the sources fill, join the list after them.
    const parts: GatewayPart[] = [
      new BusTranslator({ bus, log, metrics, pipeline }),
      new AuditFollower({ db: db.db, bus, kv, log, pipeline }),
    ];
    const delivery = await createWebhookDelivery({ config, database: db, bus, log, registry });
    pipeline.onRecorded(() => delivery.deliverer.nudge());
    parts.push(delivery);
    const started: GatewayPart[] = [];
    return {
      exports: undefined,
      async start() {
        for (const part of parts) {
          await part.start();
          started.push(part);
        }
        log.info('translating internal events into public events');
      },
      async stop() {
        for (const part of started.splice(0).reverse()) await part.stop();
      },
    };
  },
};
