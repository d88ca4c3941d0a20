import { describe, expect, it } from 'vitest';
import { type DeviceReport, nextStatus } from './device-reports.js';

const at = new Date();
const result = (success: boolean, releaseId = 'r2'): DeviceReport => ({
  kind: 'result',
  releaseId,
  success,
  error: success ? null : 'pull failed',
  durationMs: 5,
  at,
});
const state = (
  running: string | null,
  update?: { release_id: string; status: 'failed' | 'downloading' },
): DeviceReport => ({
  kind: 'state',
  runningReleaseId: running,
  update,
  at,
});

describe('nextStatus', () => {
  it('follows progress and results about the release the rollout gave the device', () => {
    expect(
      nextStatus('targeted', 'r2', {
        kind: 'progress',
        releaseId: 'r2',
        status: 'downloading',
        at,
      }),
    ).toEqual({ status: 'downloading', error: null });
    expect(nextStatus('installing', 'r2', result(true))).toEqual({
      status: 'succeeded',
      error: null,
    });
    expect(nextStatus('downloading', 'r2', result(false))).toEqual({
      status: 'failed',
      error: 'pull failed',
    });
  });

  it('ignores reports about other releases, devices not reached, and anything after success', () => {
    expect(nextStatus('targeted', 'r2', result(false, 'r1'))).toBeUndefined();
    expect(nextStatus('planned', 'r2', result(true))).toBeUndefined();
    expect(nextStatus('succeeded', 'r2', result(false))).toBeUndefined();
  });

  it('learns from heartbeats what a lost event would have said', () => {
    expect(nextStatus('targeted', 'r2', state('r2'))).toEqual({ status: 'succeeded', error: null });
    expect(
      nextStatus('targeted', 'r2', state('r1', { release_id: 'r2', status: 'failed' })),
    ).toEqual({ status: 'failed', error: null });
    expect(nextStatus('failed', 'r2', state('r2'))).toEqual({ status: 'succeeded', error: null });
    expect(
      nextStatus('failed', 'r2', state('r1', { release_id: 'r2', status: 'downloading' })),
    ).toBeUndefined();
    expect(nextStatus('targeted', 'r2', state('r1'))).toBeUndefined();
  });
});
