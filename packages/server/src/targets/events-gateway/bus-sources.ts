import {
  internalMessageSchemas,
  internalTopics,
  parseInternalMessage,
  type InternalMessageKind,
  type PublicEvent,
} from '@flock/protocol';
import type { Static } from '@sinclair/typebox';
import type { Bus, BusMessage, Subscription } from '../../platform/bus/bus.js';
import type { Logger } from '../../platform/log/create-logger.js';
import { CoalescingWriter } from './coalescing-writer.js';
import type { EventPipeline } from './event-pipeline.js';
import type { EventSource, GatewayMetrics } from './gateway-metrics.js';
import { translateRollout } from './translate-rollout.js';
import {
  translateDeviceEvent,
  translateDeviceOffline,
  translateDeviceOnline,
} from './translate-device.js';

type InternalMessage<K extends InternalMessageKind> = Static<(typeof internalMessageSchemas)[K]>;

/** One internal topic the gateway translates, and how. */
interface BusSource<K extends InternalMessageKind> {
  topic: string;
  kind: K;
  source: EventSource;
  /** The shared subscription group replicas split this topic's messages in. */
  group: string;
  translate: (message: InternalMessage<K>) => PublicEvent | undefined;
}

type AnyBusSource = { [K in InternalMessageKind]: BusSource<K> }[InternalMessageKind];

/**
 * The translation table of the internal topics that carry public events:
 * add a row and the gateway subscribes to the topic and translates it.
 */
export const busSources: readonly AnyBusSource[] = [
  {
    topic: internalTopics.deviceOnline,
    kind: 'deviceOnline',
    source: 'presence',
    group: 'events-gateway-presence',
    translate: translateDeviceOnline,
  },
  {
    topic: internalTopics.deviceOffline,
    kind: 'deviceOffline',
    source: 'presence',
    group: 'events-gateway-presence',
    translate: translateDeviceOffline,
  },
  {
    topic: internalTopics.deviceEvent,
    kind: 'deviceEvent',
    source: 'device_event',
    group: 'events-gateway-device-events',
    translate: translateDeviceEvent,
  },
  ...[
    internalTopics.rolloutStarted,
    internalTopics.rolloutStageAdvanced,
    internalTopics.rolloutCompleted,
    internalTopics.rolloutFailed,
    internalTopics.rolloutRolledBack,
  ].map((topic) => ({
    topic,
    kind: 'rolloutEvent' as const,
    source: 'rollout' as const,
    group: 'events-gateway-rollouts',
    translate: translateRollout,
  })),
];

export interface BusTranslatorOptions {
  bus: Bus;
  log: Logger;
  metrics: GatewayMetrics;
  pipeline: EventPipeline;
}

/**
 * Subscribes to every bus source, QoS 1, and acknowledges a message only
 * once its public event is stored (or it carried none).
 */
export class BusTranslator {
  readonly #o: BusTranslatorOptions;
  readonly #stopping = new AbortController();
  readonly #writers = new Map<EventSource, CoalescingWriter>();
  readonly #subscriptions: Subscription[] = [];

  constructor(options: BusTranslatorOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const subscribed = await Promise.allSettled(
      busSources.map((source) =>
        this.#o.bus.subscribe(source.topic, (message) => this.#handle(source, message), {
          qos: 1,
          group: source.group,
        }),
      ),
    );
    for (const outcome of subscribed)
      if (outcome.status === 'fulfilled') this.#subscriptions.push(outcome.value);
    const failed = subscribed.find((outcome) => outcome.status === 'rejected');
    if (failed !== undefined) {
      await this.stop();
      throw new Error('the events gateway cannot subscribe to internal topics', {
        cause: failed.reason,
      });
    }
  }

  /** Leaves the groups first, so the broker hands new messages to the other replicas. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.unsubscribe()));
    this.#stopping.abort();
    await Promise.all([...this.#writers.values()].map((writer) => writer.settled()));
  }

  #handle(source: AnyBusSource, message: BusMessage): Promise<void> | undefined {
    const { log, metrics, pipeline } = this.#o;
    const parsed = parseInternalMessage(source.kind, message.payload);
    if (!parsed.ok) {
      metrics.invalid.inc({ source: source.source });
      log.warn({ topic: message.topic, error: parsed.error }, 'invalid internal message dropped');
      return undefined;
    }
    const translated = (source.translate as (value: unknown) => PublicEvent | undefined)(
      parsed.value,
    );
    const events = pipeline.valid(source.source, [translated]);
    if (events.length === 0) return undefined;
    return this.#writer(source.source).write(events);
  }

  #writer(source: EventSource): CoalescingWriter {
    let writer = this.#writers.get(source);
    if (writer === undefined) {
      const { pipeline, metrics, log } = this.#o;
      writer = new CoalescingWriter({
        source,
        pipeline,
        metrics,
        log,
        signal: this.#stopping.signal,
      });
      this.#writers.set(source, writer);
    }
    return writer;
  }
}
