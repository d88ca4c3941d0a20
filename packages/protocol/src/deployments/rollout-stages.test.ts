import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cohortBucket, inCohort } from '../cohort.js';
import { type RolloutStage, rolloutStages, stagePlacer } from './rollout-stages.js';

const stage = (percent: number, segments: string[] | null = null): RolloutStage => ({
  percent,
  segments,
  min_wait_seconds: 0,
  advance: 'automatic',
});

describe('rolloutStages', () => {
  it('turns each strategy into its stages', () => {
    expect(rolloutStages({ type: 'immediate' })).toEqual([stage(100)]);
    expect(rolloutStages({ type: 'canary', percent: 5, min_wait_seconds: 60 })).toEqual([
      { ...stage(5), min_wait_seconds: 60 },
      stage(100),
    ]);
    expect(
      rolloutStages({
        type: 'manual',
        stages: [{ segments: ['canary'] }, { percent: 100, min_wait_seconds: 5 }],
      }),
    ).toEqual([
      { ...stage(100, ['canary']), advance: 'operator' },
      { ...stage(100), min_wait_seconds: 5, advance: 'operator' },
    ]);
  });
});

describe('stagePlacer', () => {
  it('agrees with inCohort when there is no holdback', () => {
    const place = stagePlacer([stage(10), stage(50), stage(100)], 0);
    fc.assert(
      fc.property(fc.uuid(), (id) => {
        const placed = place({ id, segment: null });
        const expected = inCohort(id, 10) ? 0 : inCohort(id, 50) ? 1 : 2;
        expect(placed).toBe(expected);
      }),
    );
  });

  it('keeps the top buckets as the control group and never places them', () => {
    const place = stagePlacer([stage(100)], 10);
    for (let i = 0; i < 2000; i += 1) {
      const id = randomUUID();
      expect(place({ id, segment: null })).toBe(cohortBucket(id) >= 9000 ? 'held_back' : 0);
    }
  });

  it('only ever grows a stage as its percent grows, with or without holdback', () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 5000 }),
        (id, a, b, holdback) => {
          const [low, high] = a <= b ? [a / 100, b / 100] : [b / 100, a / 100];
          const inLow = stagePlacer([stage(low)], holdback / 100)({ id, segment: null }) === 0;
          const inHigh = stagePlacer([stage(high)], holdback / 100)({ id, segment: null }) === 0;
          if (inLow) expect(inHigh).toBe(true);
        },
      ),
    );
  });

  it('reaches segment stages first, then everyone', () => {
    const place = stagePlacer([stage(100, ['canary']), stage(100, ['early']), stage(100)], 0);
    expect(place({ id: randomUUID(), segment: 'canary' })).toBe(0);
    expect(place({ id: randomUUID(), segment: 'early' })).toBe(1);
    expect(place({ id: randomUUID(), segment: null })).toBe(2);
    expect(place({ id: randomUUID(), segment: 'general' })).toBe(2);
  });

  it('leaves devices unreached when stages do not cover them', () => {
    const place = stagePlacer([stage(100, ['canary'])], 0);
    expect(place({ id: randomUUID(), segment: 'early' })).toBe('unreached');
  });
});
