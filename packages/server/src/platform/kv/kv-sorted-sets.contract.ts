import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniquePrefix } from '../../../test/support/redis.js';
import type { OpenTestKvStore } from './kv-store.contract.js';
import type { KvStore } from './kv-store.js';

/** The sorted-set part of the KvStore contract: presence by last-seen time. */
export function kvSortedSetContract(name: string, open: OpenTestKvStore): void {
  describe(`KvStore sorted sets: ${name}`, () => {
    let kv: KvStore;

    beforeEach(async () => {
      kv = await open(uniquePrefix('zset'));
    });

    afterEach(async () => {
      await kv.del(['seen', 'other', 'string']);
      await kv.close();
    });

    it('adds members, says which were new, and only ever raises a score', async () => {
      expect(
        await kv.zaddMany('seen', [
          { member: 'd1', score: 100 },
          { member: 'd2', score: 200 },
        ]),
      ).toEqual([true, true]);
      expect(
        await kv.zaddMany('seen', [
          { member: 'd1', score: 50 },
          { member: 'd2', score: 300 },
          { member: 'd3', score: 1_700_000_000_123 },
        ]),
      ).toEqual([false, false, true]);
      expect(await kv.zscoreMany('seen', ['d1', 'd2', 'd3', 'd9'])).toEqual([
        100,
        300,
        1_700_000_000_123,
        null,
      ]);
      expect(await kv.zcard('seen')).toBe(3);
      expect(await kv.zaddMany('seen', [])).toEqual([]);
    });

    it('lists members up to a score, lowest first, within a limit', async () => {
      await kv.zaddMany('seen', [
        { member: 'late', score: 30 },
        { member: 'b', score: 10 },
        { member: 'a', score: 10 },
        { member: 'mid', score: 20 },
      ]);
      expect(await kv.zrangeByScore('seen', 20, 10)).toEqual([
        { member: 'a', score: 10 },
        { member: 'b', score: 10 },
        { member: 'mid', score: 20 },
      ]);
      expect(await kv.zrangeByScore('seen', 100, 2)).toHaveLength(2);
      expect(await kv.zrangeByScore('missing', 100, 10)).toEqual([]);
    });

    it('removes a member only while its score is still at most the one given', async () => {
      await kv.zaddMany('seen', [
        { member: 'stale', score: 10 },
        { member: 'fresh', score: 50 },
      ]);
      expect(
        await kv.zremIfAtMost('seen', [
          { member: 'stale', score: 20 },
          { member: 'fresh', score: 20 },
          { member: 'absent', score: 20 },
        ]),
      ).toEqual([true, false, false]);
      expect(await kv.zscoreMany('seen', ['stale', 'fresh'])).toEqual([null, 50]);
      expect(await kv.zremIfAtMost('seen', [{ member: 'fresh', score: 50 }])).toEqual([true]);
      expect(await kv.zcard('seen')).toBe(0);
      expect(await kv.zremIfAtMost('missing', [{ member: 'x', score: 1 }])).toEqual([false]);
    });

    it('lets exactly one of many concurrent adds of a member report it new', async () => {
      const added = await Promise.all(
        Array.from({ length: 20 }, (_, i) => kv.zaddMany('seen', [{ member: 'd', score: i }])),
      );
      expect(added.flat().filter(Boolean)).toHaveLength(1);
      expect(await kv.zscoreMany('seen', ['d'])).toEqual([19]);
    });

    it('refuses sorted-set work on a key of another type', async () => {
      await kv.set('string', '1');
      await expect(kv.zaddMany('string', [{ member: 'm', score: 1 }])).rejects.toThrow(/WRONGTYPE/);
      await expect(kv.zcard('string')).rejects.toThrow(/WRONGTYPE/);
      await kv.zaddMany('other', [{ member: 'm', score: 1 }]);
      await expect(kv.hgetall('other')).rejects.toThrow(/WRONGTYPE/);
    });
  });
}
