export type Hash = Record<string, string>;

export interface HashWrite {
  key: string;
  fields: Hash;
  /** Replaces the key's expiry when given. */
  ttlMs?: number;
}

/**
 * Live device state: reported and desired state per device, presence sets,
 * and leases. Keys are namespaced by the store's prefix; callers never see it.
 */
export interface KvStore {
  readonly kind: 'redis' | 'memory';

  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: { ttlMs?: number }): Promise<void>;
  del(keys: string[]): Promise<number>;
  /** Remaining time to live in ms; null when the key has no expiry or does not exist. */
  ttl(key: string): Promise<number | null>;
  expire(key: string, ttlMs: number): Promise<boolean>;

  hset(key: string, fields: Hash, options?: { ttlMs?: number }): Promise<void>;
  hgetall(key: string): Promise<Hash | null>;
  hdel(key: string, fields: string[]): Promise<number>;
  /** One round trip for many hashes; results in the order of `keys`, null where absent. */
  hgetallMany(keys: string[]): Promise<(Hash | null)[]>;
  /** One round trip for many hash writes. */
  hsetMany(writes: HashWrite[]): Promise<void>;

  sadd(key: string, members: string[]): Promise<number>;
  srem(key: string, members: string[]): Promise<number>;
  smembers(key: string): Promise<string[]>;
  sismember(key: string, member: string): Promise<boolean>;

  /** Every key that starts with `prefix`, in no particular order. */
  keys(prefix: string): AsyncIterable<string>;

  /** Sets the key only when absent: acquiring a lease. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Replaces the value and expiry only when the current value is `expected`: renewing a lease. */
  compareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<boolean>;
  /** Deletes only when the current value is `expected`: releasing a lease. */
  compareAndDelete(key: string, expected: string): Promise<boolean>;

  ping(): Promise<void>;
  close(): Promise<void>;
}
