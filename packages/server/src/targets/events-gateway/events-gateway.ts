import type { Bus } from '../../platform/bus/bus.js';
import type { Db } from '../../platform/db/database.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Logger } from '../../platform/log/create-logger.js';
import type { Registry } from '../../platform/metrics/create-metrics.js';
import { AuditFollower } from './audit-follower.js';
import { BusTranslator } from './bus-sources.js';
import { EventPipeline } from './event-pipeline.js';
import { GatewayMetrics } from './gateway-metrics.js';

export interface EventsGatewayOptions {
  db: Db;
  kv: KvStore;
  bus: Bus;
  log: Logger;
  registry: Registry;
}

/** A part of the gateway that runs between start and stop. */
export interface GatewayPart {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Internal events in, public events out (docs/events.md): the sources
 * translate and fan out into the webhook outbox through one pipeline; the
 * delivery workers, which drain the outbox, join `parts` after them.
 */
export class EventsGateway {
  readonly metrics: GatewayMetrics;
  readonly pipeline: EventPipeline;
  readonly auditFollower: AuditFollower;
  readonly busTranslator: BusTranslator;
  /** Started in this order, stopped in reverse. */
  readonly parts: GatewayPart[];
  readonly #started: GatewayPart[] = [];

  constructor(options: EventsGatewayOptions) {
    const { db, kv, bus, log, registry } = options;
    this.metrics = new GatewayMetrics(registry);
    this.pipeline = new EventPipeline({ db, bus, log, metrics: this.metrics });
    this.busTranslator = new BusTranslator({
      bus,
      log,
      metrics: this.metrics,
      pipeline: this.pipeline,
    });
    this.auditFollower = new AuditFollower({ db, bus, kv, log, pipeline: this.pipeline });
    this.parts = [this.busTranslator, this.auditFollower];
  }

  async start(): Promise<void> {
    for (const part of this.parts) {
      await part.start();
      this.#started.push(part);
    }
  }

  /** Works whether or not start ran, or ran only part of the way. */
  async stop(): Promise<void> {
    for (const part of this.#started.splice(0).reverse()) await part.stop();
  }
}
