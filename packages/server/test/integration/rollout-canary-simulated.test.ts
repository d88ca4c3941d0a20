import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Device,
  type DeviceList,
  type Rollout,
  type RolloutDeviceExplanation,
  rolloutStages,
  stagePlacer,
} from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { testKvUrl, uniquePrefix } from '../support/redis.js';
import { adminClient, type RestCall } from '../support/rest-client.js';
import { type ServerProcess, serverBinary, startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

const flockd = fileURLToPath(new URL('../../../agent/dist/main.js', import.meta.url));
const deviceCount = Number(process.env.FLOCK_TEST_ROLLOUT_DEVICES ?? 1000);
const canaryPercent = 10;
/** Two services: four steps per update, each failing three times in a row with 0.3³. */
const injectedFailureRate = 0.3;
const triggerFailureRate = 0.03;

const backends = [
  'embedded defaults',
  ...(testDatabaseUrl() !== undefined && testKvUrl() !== undefined ? ['PostgreSQL and Redis'] : []),
];

const compose = (seed: string) => ({
  services: {
    web: { image: `registry.example/web@sha256:${seed.repeat(64)}` },
    worker: { image: `registry.example/worker@sha256:${seed.repeat(64)}` },
  },
});

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

describe.skipIf(!existsSync(serverBinary) || !existsSync(flockd)).each(backends)(
  `a ${canaryPercent} % canary on ${deviceCount} simulated devices with injected failures, on %s`,
  (backend) => {
    let serverDir: string;
    let simulatorDir: string;
    let database: { url: string; drop(): Promise<void> } | undefined;
    let server: ServerProcess;
    let simulator: ChildProcess | undefined;
    let call: RestCall;
    let fleetId: string;
    let before: string;
    let after: string;

    const listDevices = async (): Promise<Device[]> => {
      const devices: Device[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '' : `&cursor=${cursor}`;
        const page: DeviceList = await call<DeviceList>(
          'GET',
          `/v1/fleets/${fleetId}/devices?limit=500${query}`,
        );
        devices.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor !== null);
      return devices;
    };

    beforeAll(async () => {
      serverDir = await mkdtemp(join(tmpdir(), 'flock-canary-server-'));
      simulatorDir = await mkdtemp(join(tmpdir(), 'flock-canary-devices-'));
      database = backend === 'embedded defaults' ? undefined : await createTestDatabase();
      server = await startServer(
        ['--target=all'],
        {
          FLOCK_DATA_DIR: serverDir,
          FLOCK_RATE_LIMIT_REGISTER_PER_MINUTE: '0',
          FLOCK_RATE_LIMIT_REGISTER_PER_KEY_PER_MINUTE: '0',
          FLOCK_RATE_LIMIT_DEVICE_TOKEN_PER_MINUTE: '0',
          FLOCK_HEARTBEAT_INTERVAL_SECONDS: '5',
          ...(database === undefined
            ? {}
            : {
                DATABASE_URL: database.url,
                KV_URL: testKvUrl(),
                FLOCK_KV_KEY_PREFIX: uniquePrefix('canary'),
              }),
        },
        { timeoutMs: 90_000 },
      );
      const broker = server.logs
        .map((line) => /^MQTT listening on (mqtt:\/\/[^ ]+)$/.exec(line.msg))
        .find((match) => match !== null);
      if (broker === undefined || broker === null) throw new Error('no embedded broker address');
      const admin = await adminClient(server.url, serverDir);
      call = admin.call;
      fleetId = (
        await call<{ id: string }>('POST', `/v1/orgs/${admin.orgId}/fleets`, {
          name: 'canary',
          device_type: 'generic-amd64',
          architecture: 'amd64',
        })
      ).id;
      const { provisioning_key: key } = await call<{ provisioning_key: string }>(
        'POST',
        `/v1/fleets/${fleetId}/provisioning-keys`,
        { name: 'simulator' },
      );
      before = (
        await call<{ id: string }>('POST', `/v1/fleets/${fleetId}/releases`, {
          compose: compose('a'),
        })
      ).id;
      after = (
        await call<{ id: string }>('POST', `/v1/fleets/${fleetId}/releases`, {
          compose: compose('b'),
        })
      ).id;
      await call('PUT', `/v1/fleets/${fleetId}/default-release`, { release_id: before });
      simulator = spawn(
        process.execPath,
        [
          flockd,
          'simulate',
          `--devices=${deviceCount}`,
          `--provisioning-key=${key}`,
          `--api-url=${server.url}`,
          `--mqtt-url=${broker[1]}`,
          '--offline-rate=0',
          `--failure-rate=${injectedFailureRate}`,
          '--update-ms=100-400',
          `--data-dir=${simulatorDir}`,
          '--registration-concurrency=16',
          '--json',
        ],
        { stdio: ['ignore', 'ignore', 'ignore'] },
      );
      await waitFor(
        async () => {
          const devices = await listDevices();
          return (
            devices.length === deviceCount &&
            devices.every((device) => device.running_release_id === before)
          );
        },
        {
          message: `${deviceCount} devices registered and running the first release`,
          timeoutMs: 600_000,
          intervalMs: 2_000,
        },
      );
    }, 660_000);

    afterAll(async () => {
      simulator?.kill('SIGKILL');
      await server?.stop();
      await database?.drop();
      await rm(serverDir, { recursive: true, force: true });
      await rm(simulatorDir, { recursive: true, force: true });
    });

    it('rolls back automatically; only canary devices ever got the release, and the rollout explains why', async () => {
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
