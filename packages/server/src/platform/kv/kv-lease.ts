import { randomBytes } from 'node:crypto';
import type { KvStore } from './kv-store.js';

export interface KvLeaseOptions {
  kv: KvStore;
  key: string;
  /** How long the lease outlives its last renewal: a holder that dies frees it after this. */
  ttlMs: number;
  /** Identifies this holder; random by default. */
  holder?: string;
}

/**
 * One holder at a time among processes sharing a KV store, for work that must
 * run once however many replicas there are (a sweeper, a purge). The holder
 * renews before each run; a crashed holder's lease lapses after `ttlMs` and
 * another takes it over.
 */
export class KvLease {
  readonly holder: string;
  readonly #options: KvLeaseOptions;
  #held = false;

  constructor(options: KvLeaseOptions) {
    this.#options = options;
    this.holder = options.holder ?? randomBytes(8).toString('hex');
  }

  /** Whether the last `tryHold` left this process the holder. */
  get held(): boolean {
    return this.#held;
  }

  /** Renews the lease when held, takes it when free; true when this process holds it now. */
  async tryHold(): Promise<boolean> {
    const { kv, key, ttlMs } = this.#options;
    this.#held = this.#held
      ? await kv.compareAndSet(key, this.holder, this.holder, ttlMs)
      : await kv.setIfAbsent(key, this.holder, ttlMs);
    // A renewal that failed because the lease lapsed may still find it free.
    if (!this.#held) this.#held = await kv.setIfAbsent(key, this.holder, ttlMs);
    return this.#held;
  }

  /** Frees the lease at once rather than after its TTL, when this process holds it. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    await this.#options.kv.compareAndDelete(this.#options.key, this.holder);
  }
}
