import { existsSync } from 'node:fs';
import {
  type Rollout,
  type RolloutDeviceExplanation,
  cohortOrder,
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

const deviceCount = Number(process.env.FLOCK_TEST_ROLLOUT_DEVICES ?? 200);

describe
  .skipIf(!existsSync(serverBinary) || !existsSync(flockdBinary))
  .each(simulatedFleetBackends)(
  `progressive and manual rollouts on ${deviceCount} healthy simulated devices, on %s`,
  (backend) => {
    let fleet: SimulatedFleet & { initialRelease: string };

    beforeAll(async () => {
      fleet = await startSimulatedFleet({ backend, devices: deviceCount, failureRate: 0 });
    }, 660_000);
    afterAll(async () => fleet?.close());

    const startRollout = async (body: object) => {
      const deployment = await fleet.call<{ id: string }>(
        'POST',
        `/v1/fleets/${fleet.fleetId}/deployments`,
        { name: 'next', ...body },
      );
      return (
        await fleet.call<{ rollout_id: string }>('POST', `/v1/deployments/${deployment.id}/start`)
      ).rollout_id;
    };
    const rollout = (id: string) => fleet.call<Rollout>('GET', `/v1/rollouts/${id}`);

    it('runs 1 / 10 / 50 / 100 % to completion, reaching devices in cohort order', async () => {
      const release = await fleet.createRelease('b');
      const strategy = {
        type: 'progressive' as const,
        stages: [1, 10, 50, 100].map((percent) => ({ percent, min_wait_seconds: 0 })),
      };
      const rolloutId = await startRollout({ release_id: release, strategy });
      const done = await waitFor(
        async () => {
          const current = await rollout(rolloutId);
          return current.state === 'completed' ? current : undefined;
        },
        { message: 'the progressive rollout to complete', timeoutMs: 180_000, intervalMs: 1_000 },
      );
      expect(done.counts).toMatchObject({ targeted: deviceCount, succeeded: deviceCount });
      expect(done.gate_evaluations[0]).toMatchObject({ verdict: 'pass', stage: 3 });
      // Registry rows follow the heartbeats a few seconds behind.
      const devices = await waitFor(
        async () => {
          const listed = await fleet.listDevices();
          return listed.every((device) => device.running_release_id === release)
            ? listed
            : undefined;
        },
        { message: 'every device running the release', timeoutMs: 60_000, intervalMs: 1_000 },
      );
      const explained = await Promise.all(
        devices.map((device) =>
          fleet.call<RolloutDeviceExplanation>(
            'GET',
            `/v1/rollouts/${rolloutId}/devices/${device.id}`,
          ),
        ),
      );
      // In cohort order, stages never go back and nobody was reached before an earlier device.
      const ordered = explained.sort((a, b) => cohortOrder(a.device_id, b.device_id));
      for (let i = 1; i < ordered.length; i += 1) {
        const [previous, current] = [ordered[i - 1]!, ordered[i]!];
        expect(current.stage!).toBeGreaterThanOrEqual(previous.stage!);
        if (current.stage! > previous.stage!)
          expect(Date.parse(current.targeted_at!)).toBeGreaterThanOrEqual(
            Date.parse(previous.targeted_at!),
          );
      }
      expect(ordered.map((e) => e.cohort_position)).toEqual(ordered.map((_, index) => index));
      // Each device in the stage its bucket puts it in, as the preview promised.
      const place = stagePlacer(rolloutStages(strategy), 0);
      const byId = new Map(devices.map((device) => [device.id, device]));
      for (const explanation of ordered)
        expect(explanation.stage).toBe(place(byId.get(explanation.device_id)!));
    }, 240_000);

    it('waits for advance between manual stages', async () => {
      const release = await fleet.createRelease('c');
      const rolloutId = await startRollout({
        release_id: release,
        strategy: { type: 'manual', stages: [{ percent: 20 }, { percent: 100 }] },
      });
      const waiting = await waitFor(
        async () => {
          const current = await rollout(rolloutId);
          return current.awaiting_advance ? current : undefined;
        },
        {
          message: 'the first stage to wait for an operator',
          timeoutMs: 120_000,
          intervalMs: 1_000,
        },
      );
      expect(waiting.stage).toBe(0);
      const stillWaiting = await rollout(rolloutId);
      expect(stillWaiting).toMatchObject({ stage: 0, awaiting_advance: true });
      expect(stillWaiting.counts.planned).toBeGreaterThan(0);
      await fleet.call('POST', `/v1/rollouts/${rolloutId}/advance`);
      await waitFor(async () => (await rollout(rolloutId)).state === 'completed', {
        message: 'the manual rollout to complete after advance',
        timeoutMs: 120_000,
        intervalMs: 1_000,
      });
    }, 240_000);
  },
);
