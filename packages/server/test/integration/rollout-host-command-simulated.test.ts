import { existsSync } from 'node:fs';
import {
  type Rollout,
  type RolloutDeviceExplanation,
  rolloutStages,
  stagePlacer,
} from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverBinary } from '../support/server-process.js';
import {
  flockdBinary,
  type SimulatedFleet,
  simulatedFleetBackends,
  startSimulatedFleet,
} from '../support/simulated-fleet.js';
import { waitFor } from '../support/wait-for.js';

const deviceCount = Number(process.env.FLOCK_TEST_ROLLOUT_DEVICES ?? 300);
const canaryPercent = 20;
/**
 * Half the canary fails: with the thirty or more devices a 20 % canary of 300
 * holds, fewer failures than the 10 % trigger is a one-in-100,000 draw.
 */
const commandFailureRate = 0.5;
const triggerFailureRate = 0.1;

/** What the test reads of `flockd simulate --json`'s final report. */
interface SimulatorReport {
  host_commands: { run: number; failed: number; rollbacks_run: number; rollbacks_failed: number };
  host_command_devices: string[];
}

describe
  .skipIf(!existsSync(serverBinary) || !existsSync(flockdBinary))
  .each(simulatedFleetBackends)(
  `a host-command canary on ${deviceCount} simulated devices whose command fails on some, on %s`,
  (backend) => {
    let fleet: SimulatedFleet;

    beforeAll(async () => {
      fleet = await startSimulatedFleet({
        backend,
        devices: deviceCount,
        failureRate: 0,
        simulatorArgs: [
          `--host-command-failure-rate=${commandFailureRate}`,
          '--rollback-command-failure-rate=0',
        ],
      });
    }, 660_000);
    afterAll(async () => fleet?.close());

    it('reverts, every reached device runs the rollback command and the API shows each outcome; the others run nothing', async () => {
      const { call, fleetId, listDevices } = fleet;
      const strategy = { type: 'canary', percent: canaryPercent, min_wait_seconds: 3600 } as const;
      const deployment = await call<{ id: string }>('POST', `/v1/fleets/${fleetId}/deployments`, {
        name: 'os-upgrade',
        host_command: {
          command: 'flock-os-upgrade --to 2',
          timeout_seconds: 60,
          rollback_command: 'flock-os-upgrade --to 1',
        },
        strategy,
        rollback: { trigger_failure_rate: triggerFailureRate, action: 'revert' },
      });
      const { rollout_id: rolloutId } = await call<{ rollout_id: string }>(
        'POST',
        `/v1/deployments/${deployment.id}/start`,
      );
      const devices = await listDevices();
      const place = stagePlacer(rolloutStages(strategy), 0);
      const canary = new Set(devices.filter((d) => place(d) === 0).map((d) => d.id));
      expect(canary.size).toBeGreaterThanOrEqual(deviceCount * 0.1);

      const ended = await waitFor(
        async () => {
          const rollout = await call<Rollout>('GET', `/v1/rollouts/${rolloutId}`);
          return rollout.state === 'rolled_back' ? rollout : undefined;
        },
        { message: 'the automatic rollback', timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(ended).toMatchObject({ stage: 0, release_id: null });
      expect(ended.counts.targeted).toBe(canary.size);
      expect(ended.counts.failed).toBeGreaterThanOrEqual(
        Math.ceil(triggerFailureRate * canary.size),
      );
      expect(ended.reason).toMatch(/at or above the trigger of 10 %/);

      // Every reached device ran the rollback command, whether or not its command had run.
      const rolledBack = await waitFor(
        async () => {
          const rollout = await call<Rollout>('GET', `/v1/rollouts/${rolloutId}`);
          const { succeeded, failed } = rollout.rollback_commands;
          return succeeded + failed === canary.size ? rollout : undefined;
        },
        {
          message: 'a rollback report from every canary device',
          timeoutMs: 60_000,
          intervalMs: 500,
        },
      );
      expect(rolledBack.rollback_commands).toEqual({ succeeded: canary.size, failed: 0 });

      const explained = await Promise.all(
        devices.map((device) =>
          call<RolloutDeviceExplanation>('GET', `/v1/rollouts/${rolloutId}/devices/${device.id}`),
        ),
      );
      for (const explanation of explained) {
        if (!canary.has(explanation.device_id)) {
          expect(explanation).toMatchObject({ targeted: false, rollback_command: null });
          continue;
        }
        expect(explanation.targeted).toBe(true);
        expect(explanation.rollback_command).toMatchObject({
          success: true,
          exit_code: 0,
          timed_out: false,
          stdout_tail: '[simulated] flock-os-upgrade --to 1\n',
          stderr_tail: '',
        });
        expect(Date.parse(explanation.rollback_command!.reported_at)).toBeGreaterThanOrEqual(
          Date.parse(ended.ended_at!),
        );
        expect(explanation.explanation).toMatch(
          /rolled back .* and ran the rollback command, which exited with 0, reported at /,
        );
      }
      const failed = explained.filter((e) => e.status === 'failed');
      expect(failed.length).toBe(ended.counts.failed);
      for (const explanation of failed)
        expect(explanation.error).toBe('the host command exited with 1');

      // The devices' own account: only the canary ran anything, each its rollback once.
      const report = (await fleet.stopSimulator()) as SimulatorReport;
      expect(report.host_command_devices).toEqual([...canary].sort());
      expect(report.host_commands).toMatchObject({
        rollbacks_run: canary.size,
        rollbacks_failed: 0,
      });
      expect(report.host_commands.run).toBeLessThanOrEqual(canary.size);
      expect(report.host_commands.failed).toBeGreaterThanOrEqual(ended.counts.failed);
      console.log(
        `canary ${canary.size} of ${deviceCount}: ${report.host_commands.run} ran the command, ` +
          `${report.host_commands.failed} failed (${ended.counts.failed} before the revert), ` +
          `${report.host_commands.rollbacks_run} ran the rollback`,
      );
    }, 180_000);
  },
);
