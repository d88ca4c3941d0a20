import type { HealthCriteria } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { evaluateGate, type GateInputs } from './health-gate.js';

const criteria: HealthCriteria = {
  evaluation_window_seconds: 600,
  min_update_success_rate: 0.9,
  min_sample_size: 5,
};
const inputs = (fields: Partial<GateInputs>): GateInputs => ({
  targeted: 10,
  succeeded: 10,
  failed: 0,
  updating_online: 0,
  updating_offline: 0,
  online: 10,
  stage_age_seconds: 60,
  telemetry: {},
  ...fields,
});

describe('evaluateGate', () => {
  it('passes when enough devices succeeded, and says on what', () => {
    expect(evaluateGate(criteria, inputs({}))).toEqual({
      verdict: 'pass',
      reasons: ['update success rate 100 % (10 of 10), minimum 90 %'],
    });
  });

  it('waits for online devices still updating inside the window and for the minimum sample', () => {
    expect(evaluateGate(criteria, inputs({ succeeded: 7, updating_online: 3 })).verdict).toBe(
      'wait',
    );
    expect(
      evaluateGate(criteria, inputs({ succeeded: 3, updating_offline: 7, online: 3 })),
    ).toEqual({ verdict: 'wait', reasons: ['3 of the minimum sample of 5 devices reported'] });
  });

  it('counts devices still updating after the window as not succeeded', () => {
    const verdict = evaluateGate(
      criteria,
      inputs({ succeeded: 8, updating_online: 2, stage_age_seconds: 600 }),
    );
    expect(verdict).toEqual({
      verdict: 'fail',
      reasons: ['update success rate 80 % (8 of 10), minimum 90 %'],
    });
  });

  it('leaves offline devices out unless the criteria count them as failed', () => {
    const offline = inputs({ succeeded: 9, updating_offline: 1, online: 9 });
    expect(evaluateGate(criteria, offline).verdict).toBe('pass');
    expect(evaluateGate({ ...criteria, offline_counts_as_failure: true }, offline).verdict).toBe(
      'pass',
    );
    const two = inputs({ succeeded: 8, updating_offline: 2, online: 8 });
    expect(evaluateGate({ ...criteria, offline_counts_as_failure: true }, two).verdict).toBe(
      'fail',
    );
  });

  it('judges the online rate and telemetry thresholds', () => {
    const withRules: HealthCriteria = {
      ...criteria,
      min_online_rate: 0.8,
      telemetry_thresholds: [
        { metric: 'cpu_percent', aggregate: 'mean', op: '<', value: 80, window_seconds: 600 },
      ],
    };
    expect(
      evaluateGate(withRules, inputs({ online: 7, telemetry: { 'mean(cpu_percent)': 50 } })),
    ).toMatchObject({ verdict: 'fail', reasons: ['online rate 70 % (7 of 10), minimum 80 %'] });
    expect(
      evaluateGate(withRules, inputs({ telemetry: { 'mean(cpu_percent)': 91.5 } })),
    ).toMatchObject({ verdict: 'fail', reasons: ['mean(cpu_percent) = 91.5, must be < 80'] });
    expect(
      evaluateGate(withRules, inputs({ telemetry: { 'mean(cpu_percent)': null } })).verdict,
    ).toBe('pass');
  });

  it('passes a stage that reached nobody', () => {
    expect(evaluateGate(criteria, inputs({ targeted: 0, succeeded: 0, online: 0 })).verdict).toBe(
      'pass',
    );
  });
  it('judges a threshold relative to the holdback on the difference, and shows both sides', () => {
    const relative: HealthCriteria = {
      evaluation_window_seconds: 600,
      telemetry_thresholds: [
        {
          metric: 'cpu_percent',
          aggregate: 'mean',
          op: '<',
          value: 10,
          window_seconds: 600,
          relative_to: 'holdback',
        },
      ],
    };
    const key = 'mean(cpu_percent) of reached - mean(cpu_percent) of holdback';
    const sides = (reached: number, holdback: number) => ({
      [key]: reached - holdback,
      'mean(cpu_percent) of reached': reached,
      'mean(cpu_percent) of holdback': holdback,
    });
    // A hot week heats every device: 85 % would fail an absolute gate, not this one.
    expect(evaluateGate(relative, inputs({ telemetry: sides(85, 80) }))).toEqual({
      verdict: 'pass',
      reasons: [`${key} = 5 (reached 85, holdback 80), must be < 10`],
    });
    expect(evaluateGate(relative, inputs({ telemetry: sides(70, 55) })).verdict).toBe('fail');
    expect(evaluateGate(relative, inputs({ telemetry: { [key]: null } })).reasons).toEqual([
      `${key}: no samples in the window, not judged`,
    ]);
  });
});
