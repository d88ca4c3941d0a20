import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => p.problem);
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('webhook settings', () => {
  it('default to no private targets, 10 s, about a day of retries and one schedule before disabling', () => {
    const config = loadConfig({ env: {} });
    expect(config.webhooksAllowPrivate).toBe(false);
    expect(config.webhooksTimeoutMs).toBe(10_000);
    expect(config.webhooksRetrySchedule).toEqual([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
    const total = config.webhooksRetrySchedule.reduce((sum, wait) => sum + wait, 0);
    expect(total / 3_600_000).toBeGreaterThan(24);
    expect(total / 3_600_000).toBeLessThan(30);
    expect(config.webhooksDisableAfterFailures).toBeUndefined();
    expect(config.webhooksConcurrency).toBe(256);
  });

  it('read a schedule of durations in ms, s, m and h', () => {
    const config = loadConfig({
      env: {
        FLOCK_WEBHOOKS_RETRY_SCHEDULE: '250ms, 2s,1m,1h',
        FLOCK_WEBHOOKS_ALLOW_PRIVATE: 'true',
        FLOCK_WEBHOOKS_DISABLE_AFTER_FAILURES: '3',
      },
    });
    expect(config.webhooksRetrySchedule).toEqual([250, 2_000, 60_000, 3_600_000]);
    expect(config.webhooksAllowPrivate).toBe(true);
    expect(config.webhooksDisableAfterFailures).toBe(3);
  });

  it('refuse a malformed schedule, naming the bad item', () => {
    expect(problemsOf({ FLOCK_WEBHOOKS_RETRY_SCHEDULE: '5s,soon' })).toEqual([
      'must be durations like 5s, 10m or 2h, got "soon"',
    ]);
    expect(problemsOf({ FLOCK_WEBHOOKS_RETRY_SCHEDULE: '5' })[0]).toContain('got "5"');
    expect(problemsOf({ FLOCK_WEBHOOKS_TIMEOUT_MS: '50' })[0]).toContain('from 100 to 120000');
    expect(problemsOf({ FLOCK_WEBHOOKS_ALLOW_PRIVATE: 'maybe' })[0]).toContain('true or false');
  });
});
