import { type PublicEvent, publicEventProblem, publicEventTopic } from '@flock/protocol';
import type { Bus } from '../../platform/bus/bus.js';
import type { Db } from '../../platform/db/database.js';
import type { Logger } from '../../platform/log/create-logger.js';
import type { EventSource, GatewayMetrics } from './gateway-metrics.js';
import { type RecordedEvent, recordEvents } from './record-events.js';

export interface EventPipelineOptions {
  db: Db;
  bus: Bus;
  log: Logger;
  metrics: GatewayMetrics;
  now?: () => number;
}

/** Called after events and their outbox rows committed: delivery can begin. */
export type RecordedListener = (events: readonly RecordedEvent[]) => void;

/**
 * Translated events in, stored events, outbox rows and MQTT publishes out.
 * Every source goes through `commit`, so each public event is checked
 * against the catalogue, stored with what it owes in one transaction, and
 * published only once that committed.
 */
export class EventPipeline {
  readonly #o: EventPipelineOptions;
  readonly #listeners: RecordedListener[] = [];

  constructor(options: EventPipelineOptions) {
    this.#o = options;
  }

  /** The delivery workers hear here that outbox rows were written in this process. */
  onRecorded(listener: RecordedListener): void {
    this.#listeners.push(listener);
  }

  /**
   * Drops (and counts, and logs) translations the catalogue refuses: one
   * malformed source record must not block every event behind it.
   */
  valid(source: EventSource, events: readonly (PublicEvent | undefined)[]): PublicEvent[] {
    return events.filter((event): event is PublicEvent => {
      if (event === undefined) return false;
      const problem = publicEventProblem(event);
      if (problem === undefined) return true;
      this.#o.metrics.invalid.inc({ source });
      this.#o.log.error(
        { source, type: event.type, id: event.id, problem },
        'untranslatable event dropped',
      );
      return false;
    });
  }

  /**
   * Stores the events and their outbox rows, and runs `alsoInTransaction`
   * (a source's position) in the same transaction; then publishes every one
   * of them, stored now or before, so a redelivered source message repairs
   * a publish a crash cut off.
   */
  async commit(
    source: EventSource,
    events: readonly PublicEvent[],
    alsoInTransaction?: (tx: Db) => Promise<void>,
  ): Promise<RecordedEvent[]> {
    const { db, metrics } = this.#o;
    let outboxRows = 0;
    const recorded = await db.transaction().execute(async (tx) => {
      const stored = await recordEvents(tx, events);
      outboxRows = stored.outboxRows;
      await alsoInTransaction?.(tx);
      return stored.recorded;
    });
    const now = (this.#o.now ?? Date.now)();
    for (const { event } of recorded) {
      metrics.events.inc({ type: event.type });
      metrics.lagSeconds.observe(
        { source },
        Math.max(0, now - Date.parse(event.occurred_at)) / 1000,
      );
    }
    metrics.duplicates.inc({ source }, events.length - recorded.length);
    metrics.outboxRows.inc(outboxRows);
    if (recorded.length > 0) for (const listener of this.#listeners) listener(recorded);
    await this.#publish(events);
    return recorded;
  }

  async #publish(events: readonly PublicEvent[]): Promise<void> {
    const { bus, log, metrics } = this.#o;
    const outcomes = await Promise.allSettled(
      events.map((event) =>
        bus.publish(publicEventTopic(event.org_id, event.type), JSON.stringify(event), { qos: 1 }),
      ),
    );
    const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
    if (failed.length === 0) return;
    // Stored is what counts: webhooks and the stream's resume read the table.
    metrics.publishFailures.inc(failed.length);
    log.warn({ err: failed[0]!.reason, failed: failed.length }, 'publishing public events failed');
  }
}
