import type { Logger } from '../../platform/log/create-logger.js';
import type { Channel, IngesterMetrics, Store } from './ingester-metrics.js';
import type { MessageDrops } from './message-drops.js';
import { MicroBatcher, type MicroBatcherOptions } from './micro-batcher.js';

export interface IngesterBatcherContext {
  metrics: IngesterMetrics;
  log: Logger;
  drops: MessageDrops;
}

/**
 * A MicroBatcher wired to the ingester's metrics and logs: batch sizes and
 * write times per store, one warning per outage rather than per retry, and
 * every dropped item counted against its channel.
 */
export function ingesterBatcher<T>(
  { metrics, log, drops }: IngesterBatcherContext,
  store: Store,
  channel: Channel,
  options: Omit<MicroBatcherOptions<T>, 'onDrop' | 'onRetry'> & {
    deviceOf: (item: T) => string;
  },
): MicroBatcher<T> {
  let outage: string | undefined;
  // The KV writers time their own round trips, which carry several stores at once.
  const timedHere = store !== 'kv_state' && store !== 'kv_presence';
  return new MicroBatcher<T>({
    ...options,
    write: async (items) => {
      await (timedHere
        ? metrics.timed(store, items.length, () => options.write(items))
        : options.write(items));
      if (outage !== undefined) log.info({ store }, 'ingester writes recovered');
      outage = undefined;
    },
    onDrop: (item, reason, error) => drops.failed(channel, options.deviceOf(item), reason, error),
    onRetry: (error, items) => {
      metrics.writeRetries.inc({ store });
      const text = error instanceof Error ? error.message : String(error);
      if (text !== outage)
        log.warn({ err: error, store, items }, 'ingester write failed; retrying');
      outage = text;
    },
  });
}
