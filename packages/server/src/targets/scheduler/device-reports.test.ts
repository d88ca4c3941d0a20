import { describe, expect, it } from 'vitest';
import { type DeviceReport, nextStatus, reportOfEvent, rollbackOutcome } from './device-reports.js';

const at = new Date();
const target = { releaseId: 'r2', commandId: null };
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
      nextStatus('targeted', target, {
        kind: 'progress',
        releaseId: 'r2',
        status: 'downloading',
        at,
      }),
    ).toEqual({ status: 'downloading', error: null });
    expect(nextStatus('installing', target, result(true))).toEqual({
      status: 'succeeded',
      error: null,
    });
    expect(nextStatus('downloading', target, result(false))).toEqual({
      status: 'failed',
      error: 'pull failed',
    });
  });

  it('ignores reports about other releases, devices not reached, and anything after success', () => {
    expect(nextStatus('targeted', target, result(false, 'r1'))).toBeUndefined();
    expect(nextStatus('planned', target, result(true))).toBeUndefined();
    expect(nextStatus('succeeded', target, result(false))).toBeUndefined();
  });

  it('learns from heartbeats what a lost event would have said', () => {
    expect(nextStatus('targeted', target, state('r2'))).toEqual({
      status: 'succeeded',
      error: null,
    });
    expect(
      nextStatus('targeted', target, state('r1', { release_id: 'r2', status: 'failed' })),
    ).toEqual({ status: 'failed', error: null });
    expect(nextStatus('failed', target, state('r2'))).toEqual({ status: 'succeeded', error: null });
    expect(
      nextStatus('failed', target, state('r1', { release_id: 'r2', status: 'downloading' })),
    ).toBeUndefined();
    expect(nextStatus('targeted', target, state('r1'))).toBeUndefined();
  });

  it('follows a host command under the rollout id: alone it decides, beside a release only its failure counts', () => {
    const command = (success: boolean, rollback = false): DeviceReport => ({
      kind: 'command',
      commandId: 'rollout-1',
      rollback,
      success,
      error: success ? null : 'the host command exited with 3',
      exitCode: success ? 0 : 3,
      timedOut: false,
      stdoutTail: '',
      stderrTail: '',
      durationMs: 5,
      at,
    });
    const alone = { releaseId: null, commandId: 'rollout-1' };
    expect(nextStatus('targeted', alone, command(true))).toEqual({
      status: 'succeeded',
      error: null,
    });
    expect(nextStatus('targeted', alone, command(false))).toEqual({
      status: 'failed',
      error: 'the host command exited with 3',
    });
    expect(nextStatus('targeted', alone, command(false, true))).toBeUndefined();
    expect(nextStatus('targeted', alone, state('r1'))).toBeUndefined();
    const both = { releaseId: 'r2', commandId: 'rollout-1' };
    expect(nextStatus('targeted', both, command(true))).toBeUndefined();
    expect(nextStatus('installing', both, command(false))?.status).toBe('failed');
    expect(nextStatus('targeted', target, command(false))).toBeUndefined();
  });

  it('keeps what a rollback command returned, with the end of each stream', () => {
    const report = reportOfEvent({
      v: 1,
      device_id: 'd1',
      org_id: 'o1',
      fleet_id: 'f1',
      received_at: at.toISOString(),
      event: {
        v: 1,
        id: 'e1',
        occurred_at: at.toISOString(),
        type: 'host_command.result',
        command_id: 'rollout-1',
        rollback: true,
        exit_code: null,
        timed_out: true,
        success: false,
        stdout_tail: `${'x'.repeat(3000)}done\n`,
        stderr_tail: 'killed\n',
        duration_ms: 60_000,
      },
    });
    if (report?.kind !== 'command') throw new Error('expected a command report');
    const outcome = rollbackOutcome(report);
    expect(outcome).toEqual({
      success: false,
      exit_code: null,
      timed_out: true,
      duration_ms: 60_000,
      reported_at: at.toISOString(),
      stdout_tail: expect.stringMatching(/^x{2043}done\n$/) as string,
      stderr_tail: 'killed\n',
    });
  });
});
