import { setTimeout as sleep } from 'node:timers/promises';

export interface MicroBatcherOptions<T> {
  /** Writes one batch; throws when it could not. */
  write: (items: T[]) => Promise<void>;
  /** A batch is written once its items weigh this much... */
  maxWeight: number;
  /** ...or this long after its first item arrived. */
  maxDelayMs: number;
  /** Batches written at once; later ones wait for a free slot. */
  concurrency?: number;
  /** Items refused (and reported to `onDrop`) while this much weight waits unwritten. */
  maxPendingWeight?: number;
  /**
   * Whether the store behind `write` answers at all. While it does not, a
   * failed batch is retried as it is; while it does, the failure is the
   * data's, and the batch is split until the culprit is found and dropped.
   */
  available?: () => Promise<boolean>;
  /** An item that will never be written: refused for overflow, or failing alone. */
  onDrop?: (item: T, reason: 'overflow' | 'write_failed', error?: unknown) => void;
  /** A write failed and will be retried; for logs and metrics. */
  onRetry?: (error: unknown, items: number) => void;
  /** Delay before retry `attempt` (0-based). */
  backoffMs?: (attempt: number) => number;
}

/**
 * Items added one after another, up to a batch's weight, share one promise:
 * a message handler returns it, and the bus acknowledges every message that
 * returned the same promise in one go, so a batch costs a promise, not one
 * per message. It resolves once each of its items is written or dropped.
 */
interface Generation {
  readonly written: Promise<void>;
  readonly resolve: () => void;
  weight: number;
  unwritten: number;
}

interface Entry<T> {
  item: T;
  weight: number;
  generation: Generation;
}

function generation(): Generation {
  let resolve: () => void = () => undefined;
  const written = new Promise<void>((done) => {
    resolve = done;
  });
  return { written, resolve, weight: 0, unwritten: 0 };
}

function settle(entry: Entry<unknown>): void {
  entry.generation.unwritten -= 1;
  if (entry.generation.unwritten === 0) entry.generation.resolve();
}

const defaultBackoff = (attempt: number) => Math.min(100 * 2 ** attempt, 5_000);

/**
 * Gathers items for a few milliseconds and writes them in one go, which is
 * what makes tens of thousands of small writes a second affordable. `add`
 * resolves once the item, and those added in a row with it, are written (or
 * dropped), so a message is acknowledged only after its effect is stored; a
 * write that fails is retried, never given up on while the process runs.
 */
export class MicroBatcher<T> {
  readonly #options: MicroBatcherOptions<T>;
  #waiting: Entry<T>[] = [];
  #waitingWeight = 0;
  /** The generation new items join; closed once full or once a batch is taken. */
  #open: Generation | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = 0;
  #abandoned = false;
  readonly #idle = new Set<() => void>();

  constructor(options: MicroBatcherOptions<T>) {
    this.#options = options;
  }

  /** Weight waiting or being written. */
  get pendingWeight(): number {
    return this.#waitingWeight;
  }

  add(item: T, weight = 1): Promise<void> {
    const { maxPendingWeight, onDrop } = this.#options;
    if (this.#abandoned) return new Promise<void>(() => undefined);
    if (maxPendingWeight !== undefined && this.#waitingWeight + weight > maxPendingWeight) {
      onDrop?.(item, 'overflow');
      return Promise.resolve();
    }
    const joined = (this.#open ??= generation());
    joined.weight += weight;
    joined.unwritten += 1;
    if (joined.weight >= this.#options.maxWeight) this.#open = undefined;
    this.#waiting.push({ item, weight, generation: joined });
    this.#waitingWeight += weight;
    this.#schedule();
    return joined.written;
  }

  /** Writes whatever waits now and resolves once nothing is waiting or being written. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (!this.#abandoned && (this.#waiting.length > 0 || this.#running > 0)) {
      this.#drain(true);
      await new Promise<void>((resolve) => this.#idle.add(resolve));
    }
  }

  /**
   * Stops writing: what waits, and writes being retried, never complete, so
   * their messages stay unacknowledged and the broker delivers them again.
   */
  abandon(): void {
    this.#abandoned = true;
    clearTimeout(this.#timer);
    this.#waiting = [];
    this.#open = undefined;
    for (const wake of this.#idle) wake();
    this.#idle.clear();
  }

  #schedule(): void {
    if (this.#waitingWeight >= this.#options.maxWeight) {
      this.#drain(false);
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#drain(true);
    }, this.#options.maxDelayMs);
  }

  /** Starts batches while slots are free; `all` also sends a batch that is not full. */
  #drain(all: boolean): void {
    const concurrency = this.#options.concurrency ?? 1;
    while (this.#running < concurrency && this.#waiting.length > 0) {
      if (!all && this.#waitingWeight < this.#options.maxWeight) break;
      const batch = this.#take();
      this.#running += 1;
      void this.#write(batch).finally(() => {
        this.#running -= 1;
        if (this.#abandoned) return;
        if (this.#waiting.length === 0 && this.#running === 0) {
          for (const wake of this.#idle) wake();
          this.#idle.clear();
        } else if (this.#idle.size > 0) this.#drain(true);
        else if (this.#waiting.length > 0) this.#schedule();
      });
    }
  }

  #take(): Entry<T>[] {
    let weight = 0;
    let count = 0;
    for (const entry of this.#waiting) {
      if (count > 0 && weight + entry.weight > this.#options.maxWeight) break;
      weight += entry.weight;
      count += 1;
    }
    const batch = this.#waiting.splice(0, count);
    this.#waitingWeight -= weight;
    // Items added from now on must not wait for this batch's write to be acknowledged.
    this.#open = undefined;
    if (this.#waiting.length === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    return batch;
  }

  async #write(batch: Entry<T>[]): Promise<void> {
    const { write, available, onDrop, onRetry, backoffMs = defaultBackoff } = this.#options;
    for (let attempt = 0; !this.#abandoned; attempt += 1) {
      try {
        await write(batch.map((entry) => entry.item));
        for (const entry of batch) settle(entry);
        return;
      } catch (error) {
        if (this.#abandoned) return;
        const storeIsUp = available === undefined ? false : await available().catch(() => false);
        // A store that answers yet refuses the batch twice refuses its data.
        if (storeIsUp && attempt >= 1) {
          if (batch.length === 1) {
            onDrop?.(batch[0]!.item, 'write_failed', error);
            settle(batch[0]!);
            return;
          }
          const half = Math.ceil(batch.length / 2);
          await Promise.all([this.#write(batch.slice(0, half)), this.#write(batch.slice(half))]);
          return;
        }
        onRetry?.(error, batch.length);
        await sleep(backoffMs(attempt));
      }
    }
  }
}
