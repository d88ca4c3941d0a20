import { describe, expect, it } from 'vitest';
import { jitteredBackoffMs, Nudge } from './nudge.js';

describe('Nudge', () => {
  it('ends a wakeable sleep early, and remembers a nudge until cleared', async () => {
    const nudge = new Nudge();
    const began = Date.now();
    const sleeping = nudge.sleep(10_000, new AbortController().signal, true);
    nudge.nudge();
    await sleeping;
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(nudge.pending).toBe(true);
    nudge.clear();
    expect(nudge.pending).toBe(false);
  });

  it('lets a backoff sleep run its course despite a nudge, but not an abort', async () => {
    const nudge = new Nudge();
    const controller = new AbortController();
    let finished = false;
    const sleeping = nudge.sleep(10_000, controller.signal, false).then(() => (finished = true));
    nudge.nudge();
    await Promise.resolve();
    expect(finished).toBe(false);
    controller.abort();
    await sleeping;
    expect(finished).toBe(true);
  });
});

describe('jitteredBackoffMs', () => {
  it('doubles per failure within [half, all] of the ceiling, capped', () => {
    for (let i = 0; i < 100; i++) {
      const first = jitteredBackoffMs(1, 1_000, 60_000);
      expect(first).toBeGreaterThanOrEqual(500);
      expect(first).toBeLessThanOrEqual(1_000);
      const third = jitteredBackoffMs(3, 1_000, 60_000);
      expect(third).toBeGreaterThanOrEqual(2_000);
      expect(third).toBeLessThanOrEqual(4_000);
      expect(jitteredBackoffMs(40, 1_000, 60_000)).toBeLessThanOrEqual(60_000);
    }
  });
});
