import { assertTtl } from './assert-ttl.js';
import type { Hash, HashWrite, KvStore, ScoredMember } from './kv-store.js';

type Value =
  | { type: 'string'; value: string }
  | { type: 'hash'; value: Map<string, string> }
  | { type: 'set'; value: Set<string> }
  | { type: 'zset'; value: Map<string, number> };

type Entry = Value & { expiresAt: number | null };

export interface MemoryKvStoreOptions {
  /** How often expired keys nobody reads are dropped. */
  sweepIntervalMs?: number;
}

// Redis's wording, so callers and tests see one error whichever store runs.
const wrongType = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/**
 * Live state in this process, for a single server without Redis. Behaves as
 * RedisKvStore does, down to expiry and type errors; values are copied in and
 * out so callers never share the stored objects.
 */
export class MemoryKvStore implements KvStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(options: MemoryKvStoreOptions = {}) {
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 1_000);
    // The sweep is housekeeping: it must not keep the process alive.
    this.sweeper.unref();
  }

  async get(key: string): Promise<string | null> {
    return this.read(key, 'string')?.value ?? null;
  }

  async set(key: string, value: string, options: { ttlMs?: number } = {}): Promise<void> {
    this.assertOpen();
    if (options.ttlMs !== undefined) assertTtl(options.ttlMs);
    this.entries.set(key, { type: 'string', value, expiresAt: this.expiry(options.ttlMs) });
  }

  async del(keys: string[]): Promise<number> {
    this.assertOpen();
    let deleted = 0;
    for (const key of keys) {
      if (this.live(key) !== undefined) {
        this.entries.delete(key);
        deleted += 1;
      }
    }
    return deleted;
  }

  async ttl(key: string): Promise<number | null> {
    this.assertOpen();
    const entry = this.live(key);
    if (entry?.expiresAt == null) return null;
    return Math.ceil(entry.expiresAt - performance.now());
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    assertTtl(ttlMs);
    const entry = this.live(key);
    if (entry === undefined) return false;
    entry.expiresAt = this.expiry(ttlMs);
    return true;
  }

  async hset(key: string, fields: Hash, options: { ttlMs?: number } = {}): Promise<void> {
    this.assertOpen();
    if (options.ttlMs !== undefined) assertTtl(options.ttlMs);
    this.writeHash({ key, fields, ttlMs: options.ttlMs });
  }

  async hgetall(key: string): Promise<Hash | null> {
    const hash = this.read(key, 'hash');
    return hash === undefined ? null : Object.fromEntries(hash.value);
  }

  async hdel(key: string, fields: string[]): Promise<number> {
    this.assertOpen();
    if (fields.length === 0) return 0;
    const hash = this.read(key, 'hash');
    if (hash === undefined) return 0;
    let deleted = 0;
    for (const field of fields) if (hash.value.delete(field)) deleted += 1;
    if (hash.value.size === 0) this.entries.delete(key);
    return deleted;
  }

  async hgetallMany(keys: string[]): Promise<(Hash | null)[]> {
    this.assertOpen();
    return Promise.all(keys.map((key) => this.hgetall(key)));
  }

  async hsetMany(writes: HashWrite[]): Promise<boolean[]> {
    this.assertOpen();
    for (const write of writes) if (write.ttlMs !== undefined) assertTtl(write.ttlMs);
    // As in a Redis transaction, a write to a key of another type fails alone:
    // the others still land, and the call reports the first failure.
    let failure: unknown;
    const written = writes.map((write) => {
      try {
        return this.writeHash(write);
      } catch (error) {
        failure ??= error;
        return false;
      }
    });
    if (failure !== undefined) throw failure;
    return written;
  }

  async sadd(key: string, members: string[]): Promise<number> {
    this.assertOpen();
    if (members.length === 0) return 0;
    const set = this.read(key, 'set') ?? this.create(key, { type: 'set', value: new Set() });
    let added = 0;
    for (const member of members) {
      if (!set.value.has(member)) {
        set.value.add(member);
        added += 1;
      }
    }
    return added;
  }

  async srem(key: string, members: string[]): Promise<number> {
    this.assertOpen();
    if (members.length === 0) return 0;
    const set = this.read(key, 'set');
    if (set === undefined) return 0;
    let removed = 0;
    for (const member of members) if (set.value.delete(member)) removed += 1;
    if (set.value.size === 0) this.entries.delete(key);
    return removed;
  }

  async smembers(key: string): Promise<string[]> {
    return [...(this.read(key, 'set')?.value ?? [])];
  }

  async sismember(key: string, member: string): Promise<boolean> {
    return this.read(key, 'set')?.value.has(member) ?? false;
  }

  async zaddMany(key: string, entries: ScoredMember[]): Promise<boolean[]> {
    this.assertOpen();
    if (entries.length === 0) return [];
    const zset = this.read(key, 'zset') ?? this.create(key, { type: 'zset', value: new Map() });
    return entries.map(({ member, score }) => {
      const current = zset.value.get(member);
      if (current === undefined || score > current) zset.value.set(member, score);
      return current === undefined;
    });
  }

  async zremIfAtMost(key: string, entries: ScoredMember[]): Promise<boolean[]> {
    const scores = this.read(key, 'zset')?.value ?? new Map<string, number>();
    const removed = entries.map(({ member, score }) => {
      const current = scores.get(member);
      return current !== undefined && current <= score && scores.delete(member);
    });
    if (scores.size === 0) this.entries.delete(key);
    return removed;
  }

  async zrangeByScore(key: string, maxScore: number, limit: number): Promise<ScoredMember[]> {
    const zset = this.read(key, 'zset');
    if (zset === undefined) return [];
    // Redis orders equal scores by member.
    return [...zset.value]
      .filter(([, score]) => score <= maxScore)
      .sort(([a, x], [b, y]) => x - y || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, limit)
      .map(([member, score]) => ({ member, score }));
  }

  async zscoreMany(key: string, members: string[]): Promise<(number | null)[]> {
    const zset = this.read(key, 'zset');
    return members.map((member) => zset?.value.get(member) ?? null);
  }

  async zcard(key: string): Promise<number> {
    return this.read(key, 'zset')?.value.size ?? 0;
  }

  async *keys(prefix: string): AsyncGenerator<string> {
    this.assertOpen();
    const matching = [...this.entries.keys()].filter((key) => key.startsWith(prefix));
    for (const key of matching) {
      if (this.live(key) !== undefined) yield key;
    }
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    assertTtl(ttlMs);
    if (this.live(key) !== undefined) return false;
    this.entries.set(key, { type: 'string', value, expiresAt: this.expiry(ttlMs) });
    return true;
  }

  async compareAndSet(
    key: string,
    expected: string,
    value: string,
    ttlMs: number,
  ): Promise<boolean> {
    assertTtl(ttlMs);
    if (this.read(key, 'string')?.value !== expected) return false;
    this.entries.set(key, { type: 'string', value, expiresAt: this.expiry(ttlMs) });
    return true;
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    if (this.read(key, 'string')?.value !== expected) return false;
    this.entries.delete(key);
    return true;
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the KV store is closed');
  }

  private expiry(ttlMs: number | undefined): number | null {
    return ttlMs === undefined ? null : performance.now() + ttlMs;
  }

  /** The entry unless it has expired; an expired one is dropped on the way. */
  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= performance.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private read<T extends Value['type']>(
    key: string,
    type: T,
  ): Extract<Entry, { type: T }> | undefined {
    this.assertOpen();
    const entry = this.live(key);
    if (entry === undefined) return undefined;
    if (entry.type !== type) throw new Error(wrongType);
    return entry as Extract<Entry, { type: T }>;
  }

  private create<T extends Entry['type']>(
    key: string,
    value: Extract<Value, { type: T }>,
  ): Extract<Entry, { type: T }> {
    const entry = { ...value, expiresAt: null } as Extract<Entry, { type: T }>;
    this.entries.set(key, entry);
    return entry;
  }

  private writeHash({ key, fields, ttlMs, version }: HashWrite): boolean {
    if (version !== undefined) {
      const current = Number(this.read(key, 'hash')?.value.get(version.field));
      if (current > version.value) return false;
      fields = { ...fields, [version.field]: String(version.value) };
    }
    const pairs = Object.entries(fields);
    if (pairs.length === 0) {
      // Redis has no empty hashes: a write without fields can only touch the expiry.
      const entry = this.live(key);
      if (entry !== undefined && ttlMs !== undefined) entry.expiresAt = this.expiry(ttlMs);
      return true;
    }
    const hash = this.read(key, 'hash') ?? this.create(key, { type: 'hash', value: new Map() });
    for (const [name, value] of pairs)
      hash.value.set(name, typeof value === 'string' ? value : value.toString('utf8'));
    if (ttlMs !== undefined) hash.expiresAt = this.expiry(ttlMs);
    return true;
  }

  private sweep(): void {
    const now = performance.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) this.entries.delete(key);
    }
  }
}
