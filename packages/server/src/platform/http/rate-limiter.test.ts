import { describe, expect, it } from 'vitest';
import { HttpProblem } from './problem.js';
import { RateLimiter } from './rate-limiter.js';

function refusal(take: () => void): HttpProblem | undefined {
  try {
    take();
    return undefined;
  } catch (error) {
    if (error instanceof HttpProblem) return error;
    throw error;
  }
}

describe('RateLimiter', () => {
  it('allows a burst of perMinute, then answers 429 with Retry-After', () => {
    const limiter = new RateLimiter({ what: 'tries', perMinute: 3 }, () => new Date(0));
    for (let i = 0; i < 3; i += 1) expect(refusal(() => limiter.take('a'))).toBeUndefined();
    const refused = refusal(() => limiter.take('a'));
    expect(refused?.code).toBe('rate_limited');
    expect(refused?.status).toBe(429);
    expect(refused?.headers).toEqual({ 'retry-after': '20' });
    expect(refused?.message).toBe('too many tries; retry in 20 s');
    expect(refusal(() => limiter.take('b'))).toBeUndefined();
  });

  it('refills continuously, so waiting Retry-After is enough', () => {
    let now = 0;
    const limiter = new RateLimiter({ what: 'tries', perMinute: 60 }, () => new Date(now));
    for (let i = 0; i < 60; i += 1) limiter.take('a');
    expect(refusal(() => limiter.take('a'))?.headers).toEqual({ 'retry-after': '1' });
    now += 1000;
    expect(refusal(() => limiter.take('a'))).toBeUndefined();
    expect(refusal(() => limiter.take('a'))).toBeDefined();
    now += 10 * 60_000;
    for (let i = 0; i < 60; i += 1) expect(refusal(() => limiter.take('a'))).toBeUndefined();
  });

  it('is off at 0 per minute', () => {
    const limiter = new RateLimiter({ what: 'tries', perMinute: 0 });
    for (let i = 0; i < 1000; i += 1) limiter.take('a');
  });
});
