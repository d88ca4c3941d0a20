import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cohortBucket,
  cohortBuckets,
  cohortOrder,
  cohortThreshold,
  fnv1a32,
  inCohort,
  sortByCohort,
} from './cohort.js';

describe('fnv1a32', () => {
  // The reference vectors of the FNV authors (isthe.com/chongo/tech/comp/fnv, test_fnv.c).
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['b', 0xe70c2de5],
    ['foobar', 0xbf9cf968],
    ['chongo was here!\n', 0xd49930d5],
  ])('hashes %j to the reference value', (text, expected) => {
    expect(fnv1a32(text)).toBe(expected);
  });

  it('hashes the UTF-8 bytes, so non-ASCII text matches a byte-wise reference', () => {
    const byteWise = (text: string) => {
      let hash = 0x811c9dc5n;
      for (const byte of Buffer.from(text, 'utf8')) {
        hash = ((hash ^ BigInt(byte)) * 16777619n) % 2n ** 32n;
      }
      return Number(hash);
    };
    for (const text of ['é', 'gerät-ü', '设备', '🚀 rocket', 'a\u0000b']) {
      expect(fnv1a32(text), text).toBe(byteWise(text));
    }
  });
});

describe('cohortBucket', () => {
  it.each([
    // Known vectors: change these and every fleet's rollout order changes.
    ['', 0x811c9dc5 % 10_000],
    ['foobar', 0xbf9cf968 % 10_000],
    [
      '00000000-0000-0000-0000-000000000000',
      fnv1a32('00000000-0000-0000-0000-000000000000') % 10_000,
    ],
  ])('puts %j in bucket %i', (id, bucket) => {
    expect(cohortBucket(id)).toBe(bucket);
  });

  it('is stable and within 0..9999', () => {
    fc.assert(
      fc.property(fc.string(), (id) => {
        const bucket = cohortBucket(id);
        expect(bucket).toBe(cohortBucket(id));
        expect(Number.isInteger(bucket) && bucket >= 0 && bucket < cohortBuckets).toBe(true);
      }),
    );
  });

  it('spreads random UUIDs evenly: each decile holds 10 % ± 2 %', () => {
    const counts = new Array<number>(10).fill(0);
    const n = 10_000;
    for (let i = 0; i < n; i += 1) {
      const decile = Math.floor(cohortBucket(randomUUID()) / 1000);
      counts[decile] = (counts[decile] ?? 0) + 1;
    }
    for (const count of counts) {
      expect(count / n).toBeGreaterThanOrEqual(0.08);
      expect(count / n).toBeLessThanOrEqual(0.12);
    }
  });
});

describe('inCohort', () => {
  it('only ever grows the set as the percentage grows', () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (id, p, q) => {
          const [low, high] = p <= q ? [p, q] : [q, p];
          if (inCohort(id, low)) expect(inCohort(id, high)).toBe(true);
        },
      ),
    );
  });

  it('makes the devices in 10 % a subset of those in 50 %', () => {
    const ids = Array.from({ length: 2_000 }, () => randomUUID());
    const ten = ids.filter((id) => inCohort(id, 10));
    const fifty = new Set(ids.filter((id) => inCohort(id, 50)));
    expect(ten.length).toBeGreaterThan(0);
    expect(ten.every((id) => fifty.has(id))).toBe(true);
    expect(fifty.size).toBeGreaterThan(ten.length);
  });

  it('includes nobody at 0 % and everybody at 100 %', () => {
    fc.assert(
      fc.property(fc.string(), (id) => {
        expect(inCohort(id, 0)).toBe(false);
        expect(inCohort(id, 100)).toBe(true);
        expect(inCohort(id, Number.NaN)).toBe(false);
      }),
    );
  });

  it('resolves percentages to basis points', () => {
    expect(cohortThreshold(0.01)).toBe(1);
    expect(cohortThreshold(12.34)).toBe(1234);
    expect(cohortThreshold(33.333)).toBe(3333);
    expect(cohortThreshold(-5)).toBe(0);
    expect(cohortThreshold(250)).toBe(10_000);
  });
});

describe('cohortOrder', () => {
  it('orders by bucket, then id, and sortByCohort agrees with it', () => {
    fc.assert(
      fc.property(fc.array(fc.uuid(), { maxLength: 50 }), (ids) => {
        const sorted = [...ids].sort(cohortOrder);
        for (let i = 1; i < sorted.length; i += 1) {
          const [a, b] = [sorted[i - 1] ?? '', sorted[i] ?? ''];
          expect(
            cohortBucket(a) < cohortBucket(b) || (cohortBucket(a) === cohortBucket(b) && a <= b),
          ).toBe(true);
        }
        expect(sortByCohort(ids, (id) => id)).toEqual(sorted);
      }),
    );
  });

  it('puts a percentage cohort at the front of the order', () => {
    const ids = Array.from({ length: 500 }, () => randomUUID()).sort(cohortOrder);
    const inside = ids.filter((id) => inCohort(id, 30));
    expect(ids.slice(0, inside.length)).toEqual(inside);
  });
});
