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

const deviceCount = Number(process.env.FLOCK_TEST_ROLLOUT_DEVICES ?? 1000);
const canaryPercent = 10;
/** Two services: four steps per update, each failing three times in a row with 0.3³. */
const injectedFailureRate = 0.3;
const triggerFailureRate = 0.03;

async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>) {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * One backend per run, the real services where they are configured: with 1,000
 * devices this is the suite's heaviest test (about a minute alone, several
 * under the rest of the suite), and the engine under it is the same on both
 * (the scheduler suite covers PGlite and PostgreSQL alike).
 */
const backends = simulatedFleetBackends.slice(-1);

describe.skipIf(!existsSync(serverBinary) || !existsSync(flockdBinary)).each(backends)(
  `a ${canaryPercent} % canary on ${deviceCount} simulated devices with injected failures, on %s`,
  (backend) => {
    let fleet: SimulatedFleet & { initialRelease: string };

    beforeAll(async () => {
      fleet = await startSimulatedFleet({
        backend,
        devices: deviceCount,
        failureRate: injectedFailureRate,
      });
    }, 660_000);
    afterAll(async () => fleet?.close());

    it('rolls back automatically; only canary devices ever got the release, and the rollout explains why', async () => {
      const { call, fleetId, listDevices, initialRelease: before } = fleet;
      const after = await fleet.createRelease('b');
      const strategy = { type: 'canary', percent: canaryPercent, min_wait_seconds: 3600 } as const;
      const deployment = await call<{ id: string }>('POST', `/v1/fleets/${fleetId}/deployments`, {
        name: 'risky',
        release_id: after,
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
      expect(canary.size).toBeGreaterThan(deviceCount * 0.05);

      // Watch the registry the whole time: nobody outside the canary may run the release.
      const ranIt = new Set<string>();
      const ended = await waitFor(
        async () => {
          for (const device of await listDevices())
            if (device.running_release_id === after) ranIt.add(device.id);
          const rollout = await call<Rollout>('GET', `/v1/rollouts/${rolloutId}`);
          return rollout.state === 'rolled_back' ? rollout : undefined;
        },
        { message: 'the automatic rollback', timeoutMs: 180_000, intervalMs: 1_000 },
      );
      expect([...ranIt].filter((id) => !canary.has(id))).toEqual([]);
      expect(ended.stage).toBe(0);
      expect(ended.counts.targeted).toBe(canary.size);
      expect(ended.reason).toMatch(/at or above the trigger of 3 %/);

      const explained = await mapLimited(devices, 8, (device) =>
        call<RolloutDeviceExplanation>('GET', `/v1/rollouts/${rolloutId}/devices/${device.id}`),
      );
      for (const explanation of explained) {
        expect(explanation.targeted).toBe(canary.has(explanation.device_id));
        if (explanation.targeted) expect(explanation.desired_release_id).toBe(before);
      }
      const failed = explained
        .filter((e) => e.status === 'failed')
        .sort((a, b) => Date.parse(a.reported_at!) - Date.parse(b.reported_at!));
      const crossing = failed[Math.ceil(triggerFailureRate * canary.size) - 1]!;
      expect(crossing.explanation).toMatch(/reported failed: .*rolled back/);
      const decisionMs = Date.parse(ended.ended_at!) - Date.parse(crossing.reported_at!);
      console.log(
        `canary ${canary.size} devices, ${failed.length} failed; rollback decided ${decisionMs} ms after the crossing report`,
      );
      expect(decisionMs).toBeLessThan(5_000);

      // The pointer moved back: every canary device runs the release it ran before.
      await waitFor(
        async () => (await listDevices()).every((device) => device.running_release_id === before),
        {
          message: 'every device back on the first release',
          timeoutMs: 120_000,
          intervalMs: 2_000,
        },
      );
    }, 420_000);
  },
);
