import { describe, expect, it } from 'vitest';
import type { DeploymentStrategy } from '../api/deployment-plan.js';
import { type DeploymentPlan, deploymentPlanProblems } from './deployment-plan-problems.js';
import { checkDeploymentPlan } from './check-deployment-plan.js';
import { normalizeDeploymentPlan } from './normalize-deployment-plan.js';

const release = '11111111-1111-4111-8111-111111111111';
const other = '22222222-2222-4222-8222-222222222222';

function plan(overrides: Partial<DeploymentPlan> = {}): DeploymentPlan {
  return normalizeDeploymentPlan({
    release_id: release,
    strategy: { type: 'immediate' },
    ...overrides,
  });
}
const problems = (overrides: Partial<DeploymentPlan>) =>
  deploymentPlanProblems({ ...plan(), ...overrides }, '/body');
const strategy = (value: DeploymentStrategy) => problems({ strategy: value });

describe('deploymentPlanProblems', () => {
  it('accepts every strategy in its documented form', () => {
    const valid: DeploymentStrategy[] = [
      { type: 'immediate', holdback_percent: 5 },
      { type: 'canary', percent: 5, min_wait_seconds: 600 },
      { type: 'canary', percent: 0.01 },
      {
        type: 'progressive',
        stages: [
          { percent: 1, min_wait_seconds: 600 },
          { percent: 10.5, min_wait_seconds: 3600 },
          { percent: 100, min_wait_seconds: 0 },
        ],
      },
      { type: 'manual', stages: [{ percent: 50 }, { percent: 100 }] },
      // Seed 002: canary → early → general.
      {
        type: 'manual',
        stages: [{ segments: ['canary'] }, { segments: ['early'] }, { percent: 100 }],
      },
      {
        type: 'manual',
        stages: [
          { segments: ['canary'], percent: 50 },
          { segments: ['canary', 'early'] },
          { percent: 100 },
        ],
      },
    ];
    for (const value of valid) expect(strategy(value), JSON.stringify(value)).toEqual([]);
  });

  it('names each rule a progressive strategy breaks', () => {
    expect(
      strategy({
        type: 'progressive',
        percent: 5,
        stages: [
          { percent: 10, min_wait_seconds: 60 },
          { percent: 50, min_wait_seconds: 60 },
          { percent: 50, min_wait_seconds: 60 },
          { percent: 20.123 },
          { min_wait_seconds: 1 },
        ],
      }),
    ).toEqual([
      {
        field: '/body/strategy/stages/2/percent',
        message: 'must be greater than the previous stage (50)',
      },
      {
        field: '/body/strategy/stages/3/min_wait_seconds',
        message: 'is required for a progressive stage: how long it holds, healthy, before the next',
      },
      { field: '/body/strategy/stages/3/percent', message: 'must have at most two decimals' },
      { field: '/body/strategy/stages/3/percent', message: 'must be greater than stage 1 (50)' },
      { field: '/body/strategy/stages/4', message: 'a stage needs percent, segments or both' },
      {
        field: '/body/strategy/percent',
        message: 'does not apply to a progressive strategy; give each stage its percent',
      },
    ]);
  });

  it('requires the last stage to reach everyone', () => {
    expect(strategy({ type: 'manual', stages: [{ percent: 10 }, { percent: 90 }] })).toEqual([
      {
        field: '/body/strategy/stages/1/percent',
        message: 'must be 100: the last stage reaches every targeted device',
      },
    ]);
    expect(
      strategy({ type: 'manual', stages: [{ percent: 10 }, { segments: ['early'] }] }),
    ).toEqual([
      {
        field: '/body/strategy/stages/1/segments',
        message:
          'the last stage must reach every targeted device: drop segments, or add a final stage with percent 100',
      },
    ]);
  });

  it('refuses a segment stage that adds nobody', () => {
    expect(
      strategy({
        type: 'manual',
        stages: [{ segments: ['canary'] }, { segments: ['canary'], percent: 50 }, { percent: 100 }],
      }),
    ).toEqual([
      {
        field: '/body/strategy/stages/1',
        message:
          'reaches no device the earlier stages do not: its segments are already at 50 % or more',
      },
    ]);
    expect(
      strategy({
        type: 'manual',
        stages: [{ percent: 60 }, { segments: ['early'], percent: 50 }, { percent: 100 }],
      }),
    ).toHaveLength(1);
  });

  it('checks what each strategy type takes', () => {
    expect(strategy({ type: 'canary' })).toEqual([
      {
        field: '/body/strategy/percent',
        message: 'is required: the share of targeted devices the canary reaches first',
      },
    ]);
    expect(
      strategy({ type: 'canary', percent: 100, stages: [{ percent: 100 }] }).map((p) => p.field),
    ).toEqual(['/body/strategy/percent', '/body/strategy/stages']);
    expect(
      strategy({
        type: 'immediate',
        percent: 5,
        min_wait_seconds: 1,
        stages: [{ percent: 100 }],
      }).map((p) => p.field),
    ).toEqual([
      '/body/strategy/percent',
      '/body/strategy/min_wait_seconds',
      '/body/strategy/stages',
    ]);
    expect(strategy({ type: 'manual', min_wait_seconds: 5 }).map((p) => p.field)).toEqual([
      '/body/strategy/stages',
      '/body/strategy/min_wait_seconds',
    ]);
    expect(
      strategy({ type: 'canary', percent: 1.001, holdback_percent: 0.005 }).map((p) => p.field),
    ).toEqual(['/body/strategy/percent', '/body/strategy/holdback_percent']);
  });

  it('needs a release or a host command', () => {
    expect(problems({ release_id: null })).toEqual([
      {
        field: '/body/release_id',
        message: 'a deployment needs a release_id, a host_command or both',
      },
    ]);
    expect(
      problems({ release_id: null, host_command: { command: 'reboot', timeout_seconds: 60 } }),
    ).toEqual([]);
  });

  it('checks the rollback policy against the plan', () => {
    expect(
      problems({
        rollback: { trigger_failure_rate: 0.1, action: 'halt', target_release_id: other },
      }),
    ).toEqual([
      {
        field: '/body/rollback/target_release_id',
        message: 'applies only when action is revert, not halt',
      },
    ]);
    expect(
      problems({
        rollback: { trigger_failure_rate: 0.1, action: 'revert', target_release_id: release },
      }),
    ).toEqual([
      {
        field: '/body/rollback/target_release_id',
        message: 'must differ from release_id, the release being deployed',
      },
    ]);
    const commandOnly = { release_id: null, host_command: { command: 'x', timeout_seconds: 1 } };
    expect(
      problems({ ...commandOnly, rollback: { trigger_failure_rate: 0.1, action: 'revert' } }),
    ).toEqual([
      {
        field: '/body/rollback/action',
        message:
          'revert needs a release to move back from or a host_command.rollback_command to run',
      },
    ]);
    expect(
      problems({
        release_id: null,
        host_command: { command: 'x', timeout_seconds: 1, rollback_command: 'y' },
        rollback: { trigger_failure_rate: 0.1, action: 'revert' },
      }),
    ).toEqual([]);
  });

  it('keeps telemetry windows inside the evaluation window', () => {
    const threshold = {
      metric: 'cpu_temp',
      aggregate: 'p95',
      op: '<',
      value: 80,
      window_seconds: 900,
    } as const;
    expect(
      problems({ health: { evaluation_window_seconds: 600, telemetry_thresholds: [threshold] } }),
    ).toEqual([
      {
        field: '/body/health/telemetry_thresholds/0/window_seconds',
        message:
          'must not exceed evaluation_window_seconds (600): a longer window would judge the release on data from before it',
      },
    ]);
  });

  it('compares with the holdback only when the strategy keeps one', () => {
    const threshold = {
      metric: 'cpu_percent',
      aggregate: 'mean',
      op: '<',
      value: 10,
      window_seconds: 600,
      relative_to: 'holdback',
    } as const;
    const health = { evaluation_window_seconds: 600, telemetry_thresholds: [threshold] };
    expect(problems({ health, strategy: { type: 'immediate' } })).toEqual([
      {
        field: '/body/health/telemetry_thresholds/0/relative_to',
        message: 'compares with the holdback cohort, so strategy.holdback_percent must be above 0',
      },
    ]);
    expect(problems({ health, strategy: { type: 'immediate', holdback_percent: 10 } })).toEqual([]);
  });

  it('passes selector problems through under /selector', () => {
    expect(
      problems({
        selector: { labels: 'env=', versions: { min: 3, max: 2 }, attributes: { 'a/b': [1] } },
      }),
    ).toEqual([
      {
        field: '/body/selector/attributes/a~1b',
        message: 'must be a string, number or boolean, or { "in": [1 to 100 of them] }',
      },
      { field: '/body/selector/versions/max', message: 'must be at least min (3)' },
    ]);
  });
});

describe('normalizeDeploymentPlan', () => {
  it('writes out every default, and is idempotent', () => {
    const normalized = normalizeDeploymentPlan({
      strategy: { type: 'manual', stages: [{ segments: ['canary'] }, { percent: 100 }] },
      host_command: { command: 'reboot', timeout_seconds: 30 },
    });
    expect(normalized).toEqual({
      release_id: null,
      selector: {},
      strategy: {
        type: 'manual',
        stages: [
          { percent: 100, segments: ['canary'], min_wait_seconds: 0 },
          { percent: 100, min_wait_seconds: 0 },
        ],
        holdback_percent: 0,
      },
      health: {
        evaluation_window_seconds: 600,
        min_update_success_rate: 0.95,
        min_sample_size: 1,
        offline_counts_as_failure: false,
        telemetry_thresholds: [],
      },
      rollback: { trigger_failure_rate: 0.2, action: 'halt', target_release_id: null },
      host_command: {
        command: 'reboot',
        timeout_seconds: 30,
        expected_exit_code: 0,
        rollback_command: null,
      },
    });
    expect(normalizeDeploymentPlan(normalized)).toEqual(normalized);
  });
});

describe('checkDeploymentPlan', () => {
  it('checks the plan as given, before defaults could hide a mistake', () => {
    expect(
      checkDeploymentPlan({ strategy: { type: 'progressive' }, release_id: release }, '/body'),
    ).toEqual({
      ok: false,
      problems: [
        { field: '/body/strategy/stages', message: 'is required for a progressive strategy' },
      ],
    });
    const checked = checkDeploymentPlan(
      { strategy: { type: 'canary', percent: 5 }, release_id: release.toUpperCase() },
      '/body',
    );
    expect(checked).toMatchObject({
      ok: true,
      plan: { release_id: release, strategy: { min_wait_seconds: 0 } },
    });
  });
});
