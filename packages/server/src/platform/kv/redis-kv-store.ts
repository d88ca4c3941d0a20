import { Redis } from 'ioredis';
import type { Logger } from '../log/create-logger.js';
import { assertTtl } from './assert-ttl.js';
import { defineScripts, type ScriptCommands } from './redis-scripts.js';
import type { Hash, HashWrite, KvStore, ScoredMember } from './kv-store.js';

export interface RedisKvStoreOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Put before every key; callers never see it. */
  keyPrefix: string;
  log: Logger;
  /** How long opening may take, retries included, before it fails. */
  connectTimeoutMs?: number;
  /** How long one command may wait for its reply. */
  commandTimeoutMs?: number;
}

type Client = Redis & ScriptCommands;

function scoresAndMembers(entries: ScoredMember[]): string[] {
  return entries.flatMap(({ member, score }) => [String(score), member]);
}

type Replies = [error: Error | null, result: unknown][] | null;

/**
 * The field names every write sets, when the writes differ only in keys and
 * values (same TTL, version field and fields, in the same order); otherwise
 * undefined.
 */
function uniformNames(writes: readonly HashWrite[]): string[] | undefined {
  const [first] = writes;
  if (first === undefined) return undefined;
  const names = Object.keys(first.fields);
  for (const { fields, ttlMs, version } of writes) {
    if (ttlMs !== first.ttlMs || version?.field !== first.version?.field) return undefined;
    let index = 0;
    for (const name in fields) {
      if (names[index] !== name) return undefined;
      index += 1;
    }
    if (index !== names.length) return undefined;
  }
  return names;
}

const scanBatch = 500;

/** Where the store connects, for messages: the URL's password must never reach a log. */
function endpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port === '' ? '6379' : parsed.port}`;
  } catch {
    return 'an unparsable URL';
  }
}

/** SCAN patterns are globs, and ioredis does not prefix them, so both parts are escaped here. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function results(replies: Replies): unknown[] {
  if (replies === null) throw new Error('Redis discarded the transaction');
  return replies.map(([error, result]) => {
    if (error !== null) throw error;
    return result;
  });
}

function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no connection within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const settle = (outcome: () => void) => () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      outcome();
    };
    const onReady = settle(resolve);
    const onEnd = settle(() => reject(new Error('the client stopped reconnecting')));
    redis.once('ready', onReady);
    redis.once('end', onEnd);
    // The first attempt may fail while ioredis keeps retrying: only the deadline decides.
    redis.connect().catch(() => undefined);
  });
}

/**
 * Live state in Redis or Valkey, shared by every server process. Commands
 * fail at once while the connection is down rather than queueing for an
 * unknown time: callers retry on their own schedule, and /readyz reports it.
 */
export class RedisKvStore implements KvStore {
  readonly kind = 'redis';
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly redis: Client,
    private readonly keyPrefix: string,
  ) {}

  /** Connects, or fails with the reason once Redis has not answered within the timeout. */
  static async open(options: RedisKvStoreOptions): Promise<RedisKvStore> {
    const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    const redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      lazyConnect: true,
      connectTimeout: connectTimeoutMs,
      commandTimeout: options.commandTimeoutMs ?? 5_000,
      enableOfflineQueue: false,
      // Commands in flight when the connection drops fail then too, instead of
      // waiting for a reconnect and running late.
      maxRetriesPerRequest: 0,
      connectionName: 'flock-server',
    });
    defineScripts(redis);

    let lastError: Error | undefined;
    const remember = (error: Error) => {
      lastError = error;
    };
    redis.on('error', remember);
    try {
      await waitUntilReady(redis, connectTimeoutMs);
    } catch (error) {
      // `remember` stays attached: an attempt still under way may report late.
      redis.disconnect();
      throw new Error(`could not connect to Redis at ${endpoint(options.url)}`, {
        cause: lastError ?? error,
      });
    }
    redis.off('error', remember);
    RedisKvStore.reportConnection(redis, options.log);
    return new RedisKvStore(redis as Client, options.keyPrefix);
  }

  /** One warning per outage and one note when it ends, not one line per retry. */
  private static reportConnection(redis: Redis, log: Logger): void {
    let outage: string | undefined;
    redis.on('error', (error: Error) => {
      if (outage === error.message) return;
      outage = error.message;
      log.warn({ err: error }, 'Redis connection failed; reconnecting');
    });
    redis.on('ready', () => {
      if (outage === undefined) return;
      outage = undefined;
      log.info('Redis connection restored');
    });
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(key);
  }

  async set(key: string, value: string, options: { ttlMs?: number } = {}): Promise<void> {
    if (options.ttlMs === undefined) {
      await this.redis.set(key, value);
      return;
    }
    assertTtl(options.ttlMs);
    await this.redis.set(key, value, 'PX', options.ttlMs);
  }

  async del(keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.redis.del(...keys);
  }

  async ttl(key: string): Promise<number | null> {
    const remaining = await this.redis.pttl(key);
    // -1: no expiry, -2: no key.
    return remaining < 0 ? null : remaining;
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    assertTtl(ttlMs);
    return (await this.redis.pexpire(key, ttlMs)) === 1;
  }

  async hset(key: string, fields: Hash, options: { ttlMs?: number } = {}): Promise<void> {
    await this.hsetMany([{ key, fields, ttlMs: options.ttlMs }]);
  }

  async hgetall(key: string): Promise<Hash | null> {
    const hash = await this.redis.hgetall(key);
    return Object.keys(hash).length === 0 ? null : hash;
  }

  async hdel(key: string, fields: string[]): Promise<number> {
    if (fields.length === 0) return 0;
    return this.redis.hdel(key, ...fields);
  }

  async hgetallMany(keys: string[]): Promise<(Hash | null)[]> {
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    return results(await pipeline.exec()).map((hash) => {
      const fields = hash as Hash;
      return Object.keys(fields).length === 0 ? null : fields;
    });
  }

  async hsetMany(writes: HashWrite[]): Promise<boolean[]> {
    for (const write of writes) if (write.ttlMs !== undefined) assertTtl(write.ttlMs);
    // HSET refuses an empty field list; such a write can only touch the expiry.
    const effective = writes.filter(
      (write) =>
        write.ttlMs !== undefined ||
        write.version !== undefined ||
        Object.keys(write.fields).length > 0,
    );
    if (effective.length === 0) return writes.map(() => true);
    // One script call is atomic like the MULTI it replaces: readers see each hash with its expiry.
    const names = uniformNames(effective);
    const flags = await (names === undefined
      ? this.hsetEach(effective)
      : this.hsetUniform(effective, names));
    if (effective.length === writes.length) return flags.map((flag) => flag === 1);
    const written = new Map(effective.map((write, index) => [write, flags[index] === 1]));
    return writes.map((write) => written.get(write) ?? true);
  }

  private hsetEach(writes: HashWrite[]): Promise<number[]> {
    const args: (string | Buffer)[] = [];
    for (const { fields, ttlMs, version } of writes) {
      const pairs = Object.entries(fields);
      args.push(
        ttlMs === undefined ? '' : String(ttlMs),
        version?.field ?? '',
        version === undefined ? '' : String(version.value),
        String(pairs.length),
      );
      for (const [field, value] of pairs) args.push(field, value);
    }
    return this.redis.flockHsetMany(writes.length, ...writes.map((write) => write.key), ...args);
  }

  private hsetUniform(writes: HashWrite[], names: string[]): Promise<number[]> {
    const [{ ttlMs, version }] = writes as [HashWrite];
    const args: (string | Buffer)[] = [
      ttlMs === undefined ? '' : String(ttlMs),
      version?.field ?? '',
      String(names.length),
      ...names,
    ];
    for (const write of writes) {
      if (write.version !== undefined) args.push(String(write.version.value));
      for (const name of names) args.push(write.fields[name]!);
    }
    return this.redis.flockHsetUniform(writes.length, ...writes.map((write) => write.key), ...args);
  }

  async sadd(key: string, members: string[]): Promise<number> {
    if (members.length === 0) return 0;
    return this.redis.sadd(key, ...members);
  }

  async srem(key: string, members: string[]): Promise<number> {
    if (members.length === 0) return 0;
    return this.redis.srem(key, ...members);
  }

  async smembers(key: string): Promise<string[]> {
    return this.redis.smembers(key);
  }

  async sismember(key: string, member: string): Promise<boolean> {
    return (await this.redis.sismember(key, member)) === 1;
  }

  async zaddMany(key: string, entries: ScoredMember[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const added = await this.redis.flockZaddMany(key, ...scoresAndMembers(entries));
    return added.map((flag) => flag === 1);
  }

  async zremIfAtMost(key: string, entries: ScoredMember[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const removed = await this.redis.flockZremIfAtMost(key, ...scoresAndMembers(entries));
    return removed.map((flag) => flag === 1);
  }

  async zrangeByScore(key: string, maxScore: number, limit: number): Promise<ScoredMember[]> {
    const flat = await this.redis.zrangebyscore(
      key,
      '-inf',
      String(maxScore),
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const members: ScoredMember[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      members.push({ member: flat[i]!, score: Number(flat[i + 1]) });
    }
    return members;
  }

  async zscoreMany(key: string, members: string[]): Promise<(number | null)[]> {
    if (members.length === 0) return [];
    const scores = await this.redis.zmscore(key, ...members);
    return scores.map((score) => (score === null ? null : Number(score)));
  }

  async zcard(key: string): Promise<number> {
    return this.redis.zcard(key);
  }

  async *keys(prefix: string): AsyncGenerator<string> {
    const pattern = `${globLiteral(this.keyPrefix + prefix)}*`;
    // SCAN may return a key twice while Redis resizes its table; callers expect each once.
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', scanBatch);
      cursor = next;
      for (const full of batch) {
        const key = full.slice(this.keyPrefix.length);
        if (seen.has(key)) continue;
        seen.add(key);
        yield key;
      }
    } while (cursor !== '0');
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    assertTtl(ttlMs);
    return (await this.redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async compareAndSet(
    key: string,
    expected: string,
    value: string,
    ttlMs: number,
  ): Promise<boolean> {
    assertTtl(ttlMs);
    return (await this.redis.flockCompareAndSet(key, expected, value, ttlMs)) === 1;
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    return (await this.redis.flockCompareAndDelete(key, expected)) === 1;
  }

  async ping(): Promise<void> {
    if (this.closing !== undefined) throw new Error('the KV store is closed');
    if (this.redis.status !== 'ready') {
      throw new Error(`Redis is not connected (${this.redis.status})`);
    }
    try {
      await this.redis.ping();
    } catch (error) {
      throw new Error('Redis did not answer PING', { cause: error });
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    try {
      await this.redis.quit();
    } catch {
      // QUIT only lets pending replies arrive first; when it fails there is nothing left to wait for.
      this.redis.disconnect();
    }
  }
}
