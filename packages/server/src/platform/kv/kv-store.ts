export type Hash = Record<string, string>;

/** A sorted-set member with its score. */
export interface ScoredMember {
  member: string;
  score: number;
}

export interface HashWrite {
  key: string;
  /** Bytes are stored as they are (read back as UTF-8 text), sparing a large value its encoding. */
  fields: Record<string, string | Buffer>;
  /** Replaces the key's expiry when given. */
  ttlMs?: number;
  /**
   * Writes only when the hash's `field` is absent or holds a number not above
   * `value`, and then sets it to `value`: a write ordered by a version (a
   * device's send time) never replaces a newer one, however late it comes.
   */
  version?: { field: string; value: number };
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
  /** One round trip for many hash writes; false where a versioned write was older than the hash. */
  hsetMany(writes: HashWrite[]): Promise<boolean[]>;

  sadd(key: string, members: string[]): Promise<number>;
  srem(key: string, members: string[]): Promise<number>;
  smembers(key: string): Promise<string[]>;
  sismember(key: string, member: string): Promise<boolean>;

  /**
   * Sorted sets, for presence: a member per device scored by when it was last
   * seen. Adds members or raises their scores (a lower score never replaces a
   * higher one, so late writers cannot move time back); true where a member
   * was new. One round trip.
   */
  zaddMany(key: string, entries: ScoredMember[]): Promise<boolean[]>;
  /** Removes each member whose score is still at most the one given, atomically per member; true where removed. */
  zremIfAtMost(key: string, entries: ScoredMember[]): Promise<boolean[]>;
  /** Up to `limit` members scored at most `maxScore`, lowest first. */
  zrangeByScore(key: string, maxScore: number, limit: number): Promise<ScoredMember[]>;
  /** Scores in the order of `members`, null where absent. */
  zscoreMany(key: string, members: string[]): Promise<(number | null)[]>;
  zcard(key: string): Promise<number>;

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
