import type { PublicEvent } from '@flock/protocol';
import type { Logger } from '../../platform/log/create-logger.js';
import { jitteredBackoffMs, Nudge } from '../../platform/workers/nudge.js';
import type { EventPipeline } from './event-pipeline.js';
import type { EventSource, GatewayMetrics } from './gateway-metrics.js';

interface Waiting {
  events: PublicEvent[];
  done: () => void;
}

export interface CoalescingWriterOptions {
  source: EventSource;
  pipeline: Pick<EventPipeline, 'commit'>;
  metrics: GatewayMetrics;
  log: Logger;
  signal: AbortSignal;
  maxBatch?: number;
}

/**
 * Writes the events of many bus messages in one transaction: whatever
 * arrives while a write runs goes into the next. A thousand devices coming
 * online at once cost a few transactions, not a thousand. A message's
 * promise resolves, and so its QoS 1 acknowledgement leaves, only once its
 * events are stored; a failed write is retried with backoff until it
 * succeeds or the gateway stops, because an acknowledged message is gone.
 */
export class CoalescingWriter {
  readonly #o: CoalescingWriterOptions;
  readonly #waiting: Waiting[] = [];
  readonly #backoff = new Nudge();
  #draining: Promise<void> | undefined;

  constructor(options: CoalescingWriterOptions) {
    this.#o = options;
  }

  write(events: PublicEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return new Promise((done) => {
      this.#waiting.push({ events, done });
      this.#draining ??= this.#drain().finally(() => {
        this.#draining = undefined;
      });
    });
  }

  /** Resolves once no write is under way. */
  async settled(): Promise<void> {
    await this.#draining;
  }

  async #drain(): Promise<void> {
    const maxBatch = this.#o.maxBatch ?? 1_000;
    while (this.#waiting.length > 0) {
      let count = 0;
      let take = 0;
      while (take < this.#waiting.length && (take === 0 || count < maxBatch)) {
        count += this.#waiting[take]!.events.length;
        take += 1;
      }
      const batch = this.#waiting.splice(0, take);
      const stored = await this.#writeUntilStored(batch.flatMap((waiting) => waiting.events));
      if (!stored) {
        // Stopping: these messages stay unacknowledged, so the broker hands
        // them to another replica or to this one's next session.
        this.#waiting.splice(0);
        return;
      }
      for (const waiting of batch) waiting.done();
    }
  }

  async #writeUntilStored(events: PublicEvent[]): Promise<boolean> {
    const { source, pipeline, metrics, log, signal } = this.#o;
    for (let failures = 0; !signal.aborted;) {
      try {
        await pipeline.commit(source, events);
        return true;
      } catch (error) {
        failures += 1;
        metrics.writeRetries.inc({ source });
        const delay = jitteredBackoffMs(failures, 200, 10_000);
        log.warn(
          { err: error, source, failures, retryInMs: delay },
          'storing public events failed',
        );
        await this.#backoff.sleep(delay, signal, false);
      }
    }
    return false;
  }
}
