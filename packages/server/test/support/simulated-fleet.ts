import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Device, DeviceList } from '@flock/protocol';
import { createTestDatabase, testDatabaseUrl } from './postgres.js';
import { testKvUrl, uniquePrefix } from './redis.js';
import { adminClient, type RestCall } from './rest-client.js';
import { type ServerProcess, startServer } from './server-process.js';
import { waitFor } from './wait-for.js';

export const flockdBinary = fileURLToPath(new URL('../../../agent/dist/main.js', import.meta.url));

const testMqttUrl = process.env.FLOCK_TEST_MQTT_URL?.trim() || undefined;

/**
 * Embedded defaults always; the real services too when configured:
 * PostgreSQL, Redis and Mosquitto, or PostgreSQL and Redis with the embedded
 * broker when no Mosquitto is.
 */
export const simulatedFleetBackends = [
  'embedded defaults',
  ...(testDatabaseUrl() === undefined || testKvUrl() === undefined
    ? []
    : [testMqttUrl === undefined ? 'PostgreSQL and Redis' : 'PostgreSQL, Redis and Mosquitto']),
];

export interface SimulatedFleet {
  server: ServerProcess;
  call: RestCall;
  fleetId: string;
  /** Every device of the fleet, all pages. */
  listDevices(): Promise<Device[]>;
  /** A new release of the fleet with two services; `seed` makes its digests. */
  createRelease(seed: string): Promise<string>;
  /** SIGTERM to the simulator, then its final report (`flockd simulate --json`). */
  stopSimulator(): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * `flock-server --target=all` and `flockd simulate` with `devices` devices,
 * every one registered and running `initial`, the fleet's default release,
 * before this resolves.
 */
export async function startSimulatedFleet(options: {
  backend: string;
  devices: number;
  failureRate: number;
  /** More `flockd simulate` flags. */
  simulatorArgs?: string[];
}): Promise<SimulatedFleet & { initialRelease: string }> {
  const serverDir = await mkdtemp(join(tmpdir(), 'flock-sim-server-'));
  const simulatorDir = await mkdtemp(join(tmpdir(), 'flock-sim-devices-'));
  const database = options.backend === 'embedded defaults' ? undefined : await createTestDatabase();
  const mosquitto = options.backend === 'PostgreSQL, Redis and Mosquitto' ? testMqttUrl : undefined;
  let simulator: ChildProcess | undefined;
  let stopSimulator = (): Promise<unknown> => Promise.reject(new Error('no simulator'));
  const server = await startServer(
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
            FLOCK_KV_KEY_PREFIX: uniquePrefix('simulated-fleet'),
          }),
      // Its own topic prefix: the test Mosquitto is shared with other runs and checkouts.
      ...(mosquitto === undefined
        ? {}
        : {
            MQTT_URL: mosquitto,
            FLOCK_MQTT_TOPIC_PREFIX: `${uniquePrefix('simulated-fleet').replace(/:$/, '')}/`,
          }),
    },
    { timeoutMs: 90_000 },
  );
  const close = async () => {
    simulator?.kill('SIGKILL');
    await server.stop();
    await database?.drop();
    await rm(serverDir, { recursive: true, force: true });
    await rm(simulatorDir, { recursive: true, force: true });
  };
  try {
    const brokerUrl =
      mosquitto ??
      server.logs
        .map((line) => /^MQTT listening on (mqtt:\/\/[^ ]+)$/.exec(line.msg)?.[1])
        .find((url) => url !== undefined);
    if (brokerUrl === undefined) throw new Error('no embedded broker address');
    const admin = await adminClient(server.url, serverDir);
    const { call } = admin;
    const fleetId = (
      await call<{ id: string }>('POST', `/v1/orgs/${admin.orgId}/fleets`, {
        name: 'simulated',
        device_type: 'generic-amd64',
        architecture: 'amd64',
      })
    ).id;
    const { provisioning_key: key } = await call<{ provisioning_key: string }>(
      'POST',
      `/v1/fleets/${fleetId}/provisioning-keys`,
      { name: 'simulator' },
    );
    const createRelease = async (seed: string) =>
      (
        await call<{ id: string }>('POST', `/v1/fleets/${fleetId}/releases`, {
          compose: {
            services: {
              web: { image: `registry.example/web@sha256:${seed.repeat(64)}` },
              worker: { image: `registry.example/worker@sha256:${seed.repeat(64)}` },
            },
          },
        })
      ).id;
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
    const initialRelease = await createRelease('a');
    await call('PUT', `/v1/fleets/${fleetId}/default-release`, { release_id: initialRelease });
    simulator = spawn(
      process.execPath,
      [
        flockdBinary,
        'simulate',
        `--devices=${options.devices}`,
        `--provisioning-key=${key}`,
        `--api-url=${server.url}`,
        `--mqtt-url=${brokerUrl}`,
        '--offline-rate=0',
        `--failure-rate=${options.failureRate}`,
        '--update-ms=100-400',
        // Injected failures retry within seconds, not the agent's five minutes, so no straggler holds a test.
        '--retry-ms=500-3000',
        `--data-dir=${simulatorDir}`,
        '--registration-concurrency=16',
        '--json',
        ...(options.simulatorArgs ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const running = simulator;
    let report = '';
    running.stdout!.on('data', (chunk: Buffer) => (report += chunk.toString()));
    const exited = once(running, 'exit');
    stopSimulator = async () => {
      running.kill('SIGTERM');
      await exited;
      return JSON.parse(report) as unknown;
    };
    await waitFor(
      async () => {
        const devices = await listDevices();
        return (
          devices.length === options.devices &&
          devices.every((device) => device.running_release_id === initialRelease)
        );
      },
      {
        message: `${options.devices} devices registered and running the first release`,
        timeoutMs: 600_000,
        intervalMs: 2_000,
      },
    );
    return {
      server,
      call,
      fleetId,
      listDevices,
      createRelease,
      stopSimulator: () => stopSimulator(),
      initialRelease,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
