import { describe, expect, it } from 'vitest';
import { failureTrigger } from './failure-policy.js';

describe('failureTrigger', () => {
  const policy = { trigger_failure_rate: 0.2, action: 'revert' as const };

  it('fires at the trigger rate of every reached device, not of those that reported', () => {
    expect(failureTrigger(policy, { targeted: 100, failed: 19 })).toBeUndefined();
    expect(failureTrigger(policy, { targeted: 100, failed: 20 })).toBe(
      '20 of 100 reached devices failed (20 %), at or above the trigger of 20 %',
    );
  });

  it('never fires without a failure', () => {
    expect(failureTrigger(policy, { targeted: 0, failed: 0 })).toBeUndefined();
    expect(
      failureTrigger({ ...policy, trigger_failure_rate: 0.01 }, { targeted: 5, failed: 0 }),
    ).toBeUndefined();
  });
});
