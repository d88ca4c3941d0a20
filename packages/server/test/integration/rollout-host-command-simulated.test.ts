import { existsSync } from 'node:fs';
import {
  type Rollout,
  type RolloutDeviceExplanation,
  type RolloutDeviceList,
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

      // The list shows every device of the fleet: the canary with its outcome, the rest planned.
      const listed = await call<RolloutDeviceList>(
        'GET',
        `/v1/rollouts/${rolloutId}/devices?limit=500`,
      );
      expect(listed.next_cursor).toBeNull();
      expect(listed.items).toHaveLength(deviceCount);
      for (const item of listed.items) {
        if (!canary.has(item.device_id)) {
          expect(item).toMatchObject({
            status: 'planned',
            targeted_at: null,
            rollback_command: null,
          });
          continue;
        }
        expect(item.rollback_command).toMatchObject({
          success: true,
          exit_code: 0,
          timed_out: false,
          stdout_tail: '[simulated] flock-os-upgrade --to 1\n',
          stderr_tail: '',
        });
        expect(Date.parse(item.rollback_command!.reported_at)).toBeGreaterThanOrEqual(
          Date.parse(ended.ended_at!),
        );
      }
      const failed = listed.items.filter((item) => item.status === 'failed');
      expect(failed.length).toBe(ended.counts.failed);
      for (const item of failed) expect(item.error).toBe('the host command exited with 1');

      const explained = await Promise.all(
        [...canary].map((deviceId) =>
          call<RolloutDeviceExplanation>('GET', `/v1/rollouts/${rolloutId}/devices/${deviceId}`),
        ),
      );
      for (const explanation of explained)
        expect(explanation.explanation).toMatch(
          /rolled back .* and ran the rollback command, which exited with 0, reported at /,
        );
      const outside = devices.find((device) => !canary.has(device.id))!;
      expect(
        await call<RolloutDeviceExplanation>(
          'GET',
          `/v1/rollouts/${rolloutId}/devices/${outside.id}`,
        ),
      ).toMatchObject({ targeted: false, rollback_command: null });

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
