import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniquePrefix } from '../../../test/support/redis.js';
import { waitFor } from '../../../test/support/wait-for.js';
import type { KvStore } from './kv-store.js';

/** Opens a store whose keys all carry `keyPrefix`. */
export type OpenTestKvStore = (keyPrefix: string) => Promise<KvStore>;

const wrongType = /WRONGTYPE/;

async function collect(keys: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of keys) out.push(key);
  return out.sort();
}

/**
 * What every KvStore must do, run against each implementation. Each test gets
 * a store on a fresh prefix, and every key under it is deleted afterwards
 * through a second store on that prefix, so a test that closed its store
 * still leaves nothing behind in a shared Redis.
 */
export function kvStoreContract(name: string, open: OpenTestKvStore): void {
  describe(`KvStore contract: ${name}`, () => {
    const opened: { prefix: string; store: KvStore }[] = [];
    let kv: KvStore;

    async function openStore(kind = 'kv'): Promise<KvStore> {
      const prefix = uniquePrefix(kind);
      const store = await open(prefix);
      opened.push({ prefix, store });
      return store;
    }

    beforeEach(async () => {
      kv = await openStore();
    });

    afterEach(async () => {
      for (const { prefix, store } of opened.splice(0)) {
        await store.close();
        const cleaner = await open(prefix);
        try {
          await cleaner.del(await collect(cleaner.keys('')));
        } finally {
          await cleaner.close();
        }
      }
    });

    describe('strings', () => {
      it('reads null for a missing key and what was set otherwise', async () => {
        expect(await kv.get('missing')).toBeNull();
        await kv.set('a', 'one');
        expect(await kv.get('a')).toBe('one');
        await kv.set('a', 'two');
        expect(await kv.get('a')).toBe('two');
      });

      it('keeps empty and non-ASCII values as they are', async () => {
        await kv.set('empty', '');
        await kv.set('text', 'grüße 🐑\nline');
        expect(await kv.get('empty')).toBe('');
        expect(await kv.get('text')).toBe('grüße 🐑\nline');
      });

      it('deletes keys of any type and counts only those that existed', async () => {
        await kv.set('a', '1');
        await kv.hset('h', { f: 'v' });
        await kv.sadd('s', ['m']);
        expect(await kv.del(['a', 'h', 's', 'missing', 'a'])).toBe(3);
        expect(await kv.get('a')).toBeNull();
        expect(await kv.hgetall('h')).toBeNull();
        expect(await kv.smembers('s')).toEqual([]);
        expect(await kv.del([])).toBe(0);
      });
    });

    describe('expiry', () => {
      it('reports the remaining time, or null without an expiry or a key', async () => {
        await kv.set('a', '1', { ttlMs: 60_000 });
        const ttl = await kv.ttl('a');
        expect(ttl).toBeGreaterThan(50_000);
        expect(ttl).toBeLessThanOrEqual(60_000);
        await kv.set('b', '1');
        expect(await kv.ttl('b')).toBeNull();
        expect(await kv.ttl('missing')).toBeNull();
      });

      it('clears the expiry when a plain set replaces the value', async () => {
        await kv.set('a', '1', { ttlMs: 60_000 });
        await kv.set('a', '2');
        expect(await kv.ttl('a')).toBeNull();
      });

      it('forgets a key once its time is up', async () => {
        await kv.set('short', '1', { ttlMs: 40 });
        await kv.set('long', '1', { ttlMs: 60_000 });
        await waitFor(async () => (await kv.get('short')) === null, {
          timeoutMs: 2_000,
          message: 'the key expiring',
        });
        expect(await kv.ttl('short')).toBeNull();
        expect(await collect(kv.keys(''))).toEqual(['long']);
        expect(await kv.get('long')).toBe('1');
      });

      it('sets an expiry on an existing key only', async () => {
        expect(await kv.expire('missing', 1_000)).toBe(false);
        await kv.sadd('s', ['m']);
        expect(await kv.expire('s', 60_000)).toBe(true);
        expect(await kv.ttl('s')).toBeGreaterThan(50_000);
        expect(await kv.expire('s', 30)).toBe(true);
        await waitFor(async () => (await kv.smembers('s')).length === 0, { timeoutMs: 2_000 });
      });

      it('rejects an expiry that is not a positive whole number of ms', async () => {
        for (const ttlMs of [0, -5, 1.5, Number.NaN]) {
          await expect(kv.set('a', '1', { ttlMs })).rejects.toThrow(RangeError);
          await expect(kv.expire('a', ttlMs)).rejects.toThrow(RangeError);
          await expect(kv.setIfAbsent('a', '1', ttlMs)).rejects.toThrow(RangeError);
          await expect(kv.hsetMany([{ key: 'h', fields: { f: 'v' }, ttlMs }])).rejects.toThrow(
            RangeError,
          );
        }
        expect(await kv.get('a')).toBeNull();
        expect(await kv.hgetall('h')).toBeNull();
      });
    });

    describe('hashes', () => {
      it('merges fields into a hash and reads null for a missing one', async () => {
        expect(await kv.hgetall('device:1')).toBeNull();
        await kv.hset('device:1', { version: '1', status: 'online' });
        await kv.hset('device:1', { status: 'offline', cpu: '0.5' });
        expect(await kv.hgetall('device:1')).toEqual({
          version: '1',
          status: 'offline',
          cpu: '0.5',
        });
      });

      it('deletes fields, and the hash with its last field', async () => {
        await kv.hset('h', { a: '1', b: '2' });
        expect(await kv.hdel('h', ['a', 'missing'])).toBe(1);
        expect(await kv.hgetall('h')).toEqual({ b: '2' });
        expect(await kv.hdel('h', [])).toBe(0);
        expect(await kv.hdel('h', ['b'])).toBe(1);
        expect(await kv.hgetall('h')).toBeNull();
        expect(await collect(kv.keys(''))).toEqual([]);
        expect(await kv.hdel('missing', ['a'])).toBe(0);
      });

      it('sets the expiry when asked and keeps it otherwise', async () => {
        await kv.hset('h', { a: '1' }, { ttlMs: 60_000 });
        expect(await kv.ttl('h')).toBeGreaterThan(50_000);
        await kv.hset('h', { b: '2' });
        expect(await kv.ttl('h')).toBeGreaterThan(50_000);
        await kv.hset('h', { c: '3' }, { ttlMs: 30 });
        await waitFor(async () => (await kv.hgetall('h')) === null, { timeoutMs: 2_000 });
      });

      it('treats a write without fields as a change of expiry only', async () => {
        await kv.hset('absent', {});
        expect(await kv.hgetall('absent')).toBeNull();
        await kv.hset('h', { a: '1' });
        await kv.hset('h', {}, { ttlMs: 60_000 });
        expect(await kv.hgetall('h')).toEqual({ a: '1' });
        expect(await kv.ttl('h')).toBeGreaterThan(50_000);
      });

      it('reads many hashes in the order asked, null where absent', async () => {
        await kv.hset('a', { n: 'a' });
        await kv.hset('c', { n: 'c' });
        expect(await kv.hgetallMany(['c', 'missing', 'a', 'c'])).toEqual([
          { n: 'c' },
          null,
          { n: 'a' },
          { n: 'c' },
        ]);
        expect(await kv.hgetallMany([])).toEqual([]);
      });

      it('writes many hashes, each with its own expiry', async () => {
        await kv.hset('a', { old: 'x' });
        await kv.hsetMany([
          { key: 'a', fields: { n: 'a' } },
          { key: 'b', fields: { n: 'b' }, ttlMs: 60_000 },
          { key: 'c', fields: { n: 'c' }, ttlMs: 30 },
        ]);
        expect(await kv.hgetallMany(['a', 'b'])).toEqual([{ old: 'x', n: 'a' }, { n: 'b' }]);
        expect(await kv.ttl('a')).toBeNull();
        expect(await kv.ttl('b')).toBeGreaterThan(50_000);
        await waitFor(async () => (await kv.hgetall('c')) === null, { timeoutMs: 2_000 });
        await kv.hsetMany([]);
      });

      it('skips a versioned write older than the hash, and says which were written', async () => {
        const at = (value: number) => ({ field: 'at', value });
        expect(await kv.hsetMany([{ key: 'v', fields: { s: 'new' }, version: at(20) }])).toEqual([
          true,
        ]);
        expect(
          await kv.hsetMany([
            { key: 'v', fields: { s: 'old' }, version: at(10), ttlMs: 60_000 },
            { key: 'w', fields: { s: 'first' }, version: at(10) },
            { key: 'x', fields: { s: 'plain' } },
          ]),
        ).toEqual([false, true, true]);
        expect(await kv.hgetall('v')).toEqual({ s: 'new', at: '20' });
        expect(await kv.ttl('v')).toBeNull();
        expect(await kv.hsetMany([{ key: 'v', fields: { s: 'tie' }, version: at(20) }])).toEqual([
          true,
        ]);
        expect(await kv.hgetall('v')).toEqual({ s: 'tie', at: '20' });
      });

      it('applies a batch of hashes written alike, each by its own version', async () => {
        const at = (value: number) => ({ field: 'at', value });
        const alike = (key: string, state: string, version: number) => ({
          key,
          fields: { state, seen: `${key}-${version}` },
          version: at(version),
          ttlMs: 60_000,
        });
        await kv.hsetMany([alike('u1', 'new', 20)]);
        expect(
          await kv.hsetMany([
            alike('u1', 'old', 10),
            alike('u2', 'first', 10),
            alike('u3', 'x', 5),
          ]),
        ).toEqual([false, true, true]);
        expect(await kv.hgetallMany(['u1', 'u2', 'u3'])).toEqual([
          { state: 'new', seen: 'u1-20', at: '20' },
          { state: 'first', seen: 'u2-10', at: '10' },
          { state: 'x', seen: 'u3-5', at: '5' },
        ]);
        expect(await kv.ttl('u2')).toBeGreaterThan(50_000);
      });

      it('stores byte values as they are and reads them back as text', async () => {
        await kv.hsetMany([{ key: 'bytes', fields: { json: Buffer.from('{"ü":1}'), text: 'x' } }]);
        expect(await kv.hgetall('bytes')).toEqual({ json: '{"ü":1}', text: 'x' });
      });

      it('writes hundreds of hashes in one call', async () => {
        const writes = Array.from({ length: 600 }, (_, i) => ({
          key: `device:${i}`,
          fields: { i: String(i) },
        }));
        await kv.hsetMany(writes);
        const read = await kv.hgetallMany(writes.map((w) => w.key));
        expect(read).toEqual(writes.map((w) => w.fields));
      });
    });

    describe('sets', () => {
      it('adds, tests, lists and removes members', async () => {
        expect(await kv.sadd('online', ['d1', 'd2', 'd1'])).toBe(2);
        expect(await kv.sadd('online', ['d2', 'd3'])).toBe(1);
        expect(await kv.sismember('online', 'd3')).toBe(true);
        expect(await kv.sismember('online', 'd9')).toBe(false);
        expect((await kv.smembers('online')).sort()).toEqual(['d1', 'd2', 'd3']);
        expect(await kv.srem('online', ['d1', 'd9'])).toBe(1);
        expect((await kv.smembers('online')).sort()).toEqual(['d2', 'd3']);
        expect(await kv.sadd('online', [])).toBe(0);
        expect(await kv.srem('online', [])).toBe(0);
      });

      it('reads a missing set as empty and drops a set with its last member', async () => {
        expect(await kv.smembers('missing')).toEqual([]);
        expect(await kv.sismember('missing', 'x')).toBe(false);
        expect(await kv.srem('missing', ['x'])).toBe(0);
        await kv.sadd('s', ['x']);
        await kv.srem('s', ['x']);
        expect(await collect(kv.keys(''))).toEqual([]);
      });
    });

    describe('types', () => {
      it('rejects reading or changing a key as a type it does not hold', async () => {
        await kv.set('string', '1');
        await kv.hset('hash', { f: 'v' });
        await kv.sadd('set', ['m']);
        await expect(kv.get('hash')).rejects.toThrow(wrongType);
        await expect(kv.hgetall('string')).rejects.toThrow(wrongType);
        await expect(kv.hset('set', { f: 'v' })).rejects.toThrow(wrongType);
        await expect(kv.hgetallMany(['hash', 'set'])).rejects.toThrow(wrongType);
        await expect(kv.sadd('hash', ['m'])).rejects.toThrow(wrongType);
        await expect(kv.smembers('string')).rejects.toThrow(wrongType);
        await expect(kv.compareAndSet('hash', 'x', 'y', 1_000)).rejects.toThrow(wrongType);
      });

      it('lets a plain set replace a key of any type', async () => {
        await kv.hset('h', { f: 'v' });
        await kv.set('h', 'now a string');
        expect(await kv.get('h')).toBe('now a string');
      });

      it('still applies the other writes of a batch when one key has the wrong type', async () => {
        await kv.set('string', '1');
        await expect(
          kv.hsetMany([
            { key: 'before', fields: { f: '1' } },
            { key: 'string', fields: { f: '2' } },
            { key: 'after', fields: { f: '3' } },
          ]),
        ).rejects.toThrow(wrongType);
        expect(await kv.hgetallMany(['before', 'after'])).toEqual([{ f: '1' }, { f: '3' }]);
        expect(await kv.get('string')).toBe('1');
      });
    });

    describe('keys', () => {
      it('lists the keys that start with a prefix, of every type', async () => {
        await kv.hset('device:1:reported', { a: '1' });
        await kv.hset('device:1:desired', { a: '1' });
        await kv.set('device:2:seen', '1');
        await kv.sadd('presence', ['device:1']);
        expect(await collect(kv.keys('device:'))).toEqual([
          'device:1:desired',
          'device:1:reported',
          'device:2:seen',
        ]);
        expect(await collect(kv.keys('device:1:'))).toEqual([
          'device:1:desired',
          'device:1:reported',
        ]);
        expect(await collect(kv.keys(''))).toHaveLength(4);
        expect(await collect(kv.keys('nothing'))).toEqual([]);
      });

      it('takes the prefix literally, not as a pattern', async () => {
        for (const key of ['a*b', 'ab', 'a?', 'a[1]', 'a1', 'a\\x']) await kv.set(key, '1');
        expect(await collect(kv.keys('a*'))).toEqual(['a*b']);
        expect(await collect(kv.keys('a?'))).toEqual(['a?']);
        expect(await collect(kv.keys('a['))).toEqual(['a[1]']);
        expect(await collect(kv.keys('a\\'))).toEqual(['a\\x']);
      });

      it('lists each of many keys exactly once', async () => {
        const keys = Array.from({ length: 1_200 }, (_, i) => `k:${i}`);
        await kv.hsetMany(keys.map((key) => ({ key, fields: { f: '1' } })));
        const listed = await collect(kv.keys('k:'));
        expect(listed).toHaveLength(keys.length);
        expect(listed).toEqual([...keys].sort());
      });

      it('never sees the keys of a store on another prefix', async () => {
        const other = await openStore('kv-[glob]*?');
        await kv.set('device:1', 'mine');
        await other.set('device:1', 'theirs');
        await other.set('device:2', 'theirs');
        expect(await kv.get('device:1')).toBe('mine');
        expect(await other.get('device:1')).toBe('theirs');
        expect(await collect(kv.keys(''))).toEqual(['device:1']);
        expect(await collect(other.keys('device:'))).toEqual(['device:1', 'device:2']);
        expect(await kv.del(['device:2'])).toBe(0);
        expect(await other.get('device:2')).toBe('theirs');
      });
    });

    describe('leases', () => {
      it('sets a key only when absent', async () => {
        expect(await kv.setIfAbsent('lease', 'node-a', 60_000)).toBe(true);
        expect(await kv.setIfAbsent('lease', 'node-b', 60_000)).toBe(false);
        expect(await kv.get('lease')).toBe('node-a');
        expect(await kv.ttl('lease')).toBeGreaterThan(50_000);
      });

      it('can be taken again once the holder let it expire', async () => {
        expect(await kv.setIfAbsent('lease', 'node-a', 30)).toBe(true);
        await waitFor(() => kv.setIfAbsent('lease', 'node-b', 60_000), {
          timeoutMs: 2_000,
          message: 'the lease becoming free',
        });
        expect(await kv.get('lease')).toBe('node-b');
      });

      it('renews only for the holder', async () => {
        await kv.setIfAbsent('lease', 'node-a', 10_000);
        expect(await kv.compareAndSet('lease', 'node-b', 'node-b', 60_000)).toBe(false);
        expect(await kv.get('lease')).toBe('node-a');
        expect(await kv.ttl('lease')).toBeLessThanOrEqual(10_000);
        expect(await kv.compareAndSet('lease', 'node-a', 'node-a', 60_000)).toBe(true);
        expect(await kv.ttl('lease')).toBeGreaterThan(50_000);
        expect(await kv.compareAndSet('missing', 'node-a', 'node-a', 60_000)).toBe(false);
        expect(await kv.get('missing')).toBeNull();
      });

      it('releases only for the holder', async () => {
        await kv.setIfAbsent('lease', 'node-a', 60_000);
        expect(await kv.compareAndDelete('lease', 'node-b')).toBe(false);
        expect(await kv.get('lease')).toBe('node-a');
        expect(await kv.compareAndDelete('lease', 'node-a')).toBe(true);
        expect(await kv.get('lease')).toBeNull();
        expect(await kv.compareAndDelete('lease', 'node-a')).toBe(false);
      });

      it('gives a contended lease to exactly one of many', async () => {
        const contenders = Array.from({ length: 20 }, (_, i) => `node-${i}`);
        const won = await Promise.all(
          contenders.map((node) => kv.setIfAbsent('lease', node, 60_000)),
        );
        expect(won.filter(Boolean)).toHaveLength(1);
        expect(await kv.get('lease')).toBe(contenders[won.indexOf(true)]);
      });

      it('lets exactly one of many renewals with the same expectation win', async () => {
        await kv.set('lease', 'v0');
        const won = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            kv.compareAndSet('lease', 'v0', `v${i + 1}`, 60_000),
          ),
        );
        expect(won.filter(Boolean)).toHaveLength(1);
        expect(await kv.get('lease')).toBe(`v${won.indexOf(true) + 1}`);
      });
    });

    describe('isolation of values', () => {
      it('does not let a caller change stored state through what it passed or got', async () => {
        const fields: Record<string, string> = { a: '1' };
        await kv.hset('h', fields);
        fields['a'] = 'changed';
        fields['b'] = 'added';
        const read = await kv.hgetall('h');
        if (read === null) throw new Error('expected a hash');
        read['a'] = 'changed';
        const [many] = await kv.hgetallMany(['h']);
        if (many == null) throw new Error('expected a hash');
        many['c'] = 'added';
        await kv.sadd('s', ['m']);
        (await kv.smembers('s')).push('x');
        const write = { key: 'w', fields: { a: '1' } };
        await kv.hsetMany([write]);
        write.fields.a = 'changed';

        expect(await kv.hgetall('h')).toEqual({ a: '1' });
        expect(await kv.hgetall('w')).toEqual({ a: '1' });
        expect(await kv.smembers('s')).toEqual(['m']);
      });
    });

    describe('lifecycle', () => {
      it('answers ping while open', async () => {
        await expect(kv.ping()).resolves.toBeUndefined();
      });

      it('closes once however often it is asked, and refuses work afterwards', async () => {
        await kv.close();
        await kv.close();
        await Promise.all([kv.close(), kv.close()]);
        await expect(kv.ping()).rejects.toThrow();
        await expect(kv.get('a')).rejects.toThrow();
        await expect(kv.set('a', '1')).rejects.toThrow();
      });
    });
  });
}
