export interface CoalescerOptions<K, V> {
  /** Folds a newer update into the one already waiting for the same key. */
  merge: (waiting: V, newer: V) => V;
  /** Writes every waiting update; throws to keep them for the next flush. */
  write: (updates: Map<K, V>) => Promise<void>;
  /** How often waiting updates are written. */
  intervalMs: number;
  onError?: (error: unknown, updates: number) => void;
}

/**
 * Keeps only the latest update per key and writes them all every few
 * seconds: a device heartbeating every minute costs one row update a minute
 * at most, and ten thousand of them one statement per interval, not one each.
 * A failed write keeps its updates, merged with any newer ones, for the next.
 */
export class Coalescer<K, V> {
  readonly #options: CoalescerOptions<K, V>;
  #waiting = new Map<K, V>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(options: CoalescerOptions<K, V>) {
    this.#options = options;
  }

  get size(): number {
    return this.#waiting.size;
  }

  note(key: K, update: V): void {
    const waiting = this.#waiting.get(key);
    this.#waiting.set(key, waiting === undefined ? update : this.#options.merge(waiting, update));
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), this.#options.intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what waits. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Writes what waits now; one flush at a time. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    if (this.#waiting.size === 0) return;
    const updates = this.#waiting;
    this.#waiting = new Map();
    try {
      await this.#options.write(updates);
    } catch (error) {
      this.#options.onError?.(error, updates.size);
      for (const [key, update] of this.#waiting) {
        const older = updates.get(key);
        updates.set(key, older === undefined ? update : this.#options.merge(older, update));
      }
      this.#waiting = updates;
    }
  }
}
