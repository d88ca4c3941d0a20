import { describe, expect, it } from 'vitest';
import { RetrySchedule } from './retry-schedule.js';

describe('webhook retry schedule', () => {
  it('gives one attempt more than it has waits, then none', () => {
    const schedule = new RetrySchedule([1_000, 60_000], () => 0.5);
    expect(schedule.attempts).toBe(3);
    expect(schedule.waitAfter(1)).toBe(1_000);
    expect(schedule.waitAfter(2)).toBe(60_000);
    expect(schedule.waitAfter(3)).toBeUndefined();
  });

  it('jitters each wait within ±20%', () => {
    expect(new RetrySchedule([10_000], () => 0).waitAfter(1)).toBe(8_000);
    expect(new RetrySchedule([10_000], () => 0.999_999).waitAfter(1)).toBe(12_000);
    const schedule = new RetrySchedule([10_000]);
    const waits = Array.from({ length: 500 }, () => schedule.waitAfter(1)!);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(8_000);
    expect(Math.max(...waits)).toBeLessThanOrEqual(12_000);
    expect(new Set(waits).size).toBeGreaterThan(100);
  });
});
