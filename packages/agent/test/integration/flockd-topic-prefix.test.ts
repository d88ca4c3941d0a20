import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ServerProcess,
  serverBinary,
  startServer,
} from '../../../server/test/support/server-process.js';
import { parseConfig } from '../../src/config/load-config.js';
import { SimulatedRuntime } from '../../src/runtime/simulated-runtime.js';
import { startAgent } from '../../src/start-agent.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: process.env.FLOCKD_TEST_LOG ?? 'silent' });
const testMqttUrl = process.env.FLOCK_TEST_MQTT_URL?.trim() || undefined;

/** Every run its own prefix: the test Mosquitto is shared with other suites and checkouts. */
const uniqueTopicPrefix = () => `flock-test-${randomBytes(6).toString('hex')}/`;

const brokers = [
  { broker: 'the embedded broker', mqttUrl: undefined },
  ...(testMqttUrl === undefined ? [] : [{ broker: 'Mosquitto', mqttUrl: testMqttUrl }]),
];

describe.skipIf(!existsSync(serverBinary)).each(brokers)(
  'flockd on an installation with a topic prefix, on $broker',
  ({ broker, mqttUrl: externalMqttUrl }) => {
    const topicPrefix = uniqueTopicPrefix();
    let serverDir: string;
    let agentDir: string;
    let server: ServerProcess;
    let mqttUrl: string;
    let ownerKey: string;

    const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ownerKey}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as T;
    };

    beforeAll(async () => {
      serverDir = await mkdtemp(join(tmpdir(), 'flockd-prefix-server-'));
      agentDir = await mkdtemp(join(tmpdir(), 'flockd-prefix-agent-'));
      server = await startServer(
        ['--target=all'],
        {
          FLOCK_DATA_DIR: serverDir,
          FLOCK_MQTT_TOPIC_PREFIX: topicPrefix,
          ...(externalMqttUrl === undefined ? {} : { MQTT_URL: externalMqttUrl }),
        },
        { timeoutMs: 90_000 },
      );
      mqttUrl =
        externalMqttUrl ??
        server.logs
          .map((l) => /^MQTT listening on (mqtt:\/\/\S+)$/.exec(l.msg)?.[1])
          .find((url) => url !== undefined)!;
      ownerKey = (await readFile(join(serverDir, 'bootstrap-owner-key'), 'utf8')).trim();
    }, 120_000);

    afterAll(async () => {
      await server?.stop();
      await rm(serverDir, { recursive: true, force: true, maxRetries: 5 });
      await rm(agentDir, { recursive: true, force: true });
    });

    async function provision(name: string) {
      const me = await call<{ api_key: { org_id: string } }>('GET', '/v1/me');
      const fleet = await call<{ id: string }>('POST', `/v1/orgs/${me.api_key.org_id}/fleets`, {
        name,
        device_type: 'generic-amd64',
        architecture: 'amd64',
      });
      const key = await call<{ provisioning_key: string }>(
        'POST',
        `/v1/fleets/${fleet.id}/provisioning-keys`,
        {},
      );
      return { fleetId: fleet.id, provisioningKey: key.provisioning_key };
    }

    it('stores the prefix it was given, reports its state and runs the desired release', async () => {
      expect(mqttUrl).toMatch(/^mqtt:\/\//);
      const { fleetId, provisioningKey } = await provision('prefixed');
      const dataDir = join(agentDir, 'converge');
      const agent = await startAgent(
        parseConfig({
          api_url: server.url,
          mqtt_url: mqttUrl,
          provisioning_key: provisioningKey,
          data_dir: dataDir,
          device_type: 'generic-amd64',
          architecture: 'amd64',
          runtime: 'simulated',
          intervals: { reconcile_seconds: 0.2 },
        }),
        {
          log,
          runtime: new SimulatedRuntime({ pullMs: [10, 30], startMs: [5, 10], stopMs: [5, 10] }),
          retry: { initialMs: 50, maxMs: 500 },
        },
      );
      try {
        const stored = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8')) as {
          topic_prefix?: string;
        };
        expect(stored.topic_prefix).toBe(topicPrefix);
        // The server heard the device's heartbeat only if it went out under the prefix.
        await waitFor(
          async () =>
            (await call<{ last_seen_at: string | null }>('GET', `/v1/devices/${agent.deviceId}`))
              .last_seen_at !== null,
          { what: `${broker}: the first heartbeat stored`, timeoutMs: 20_000, intervalMs: 200 },
        );
        const release = await call<{ id: string }>('POST', `/v1/fleets/${fleetId}/releases`, {
          compose: {
            services: { web: { image: `registry.example/web@sha256:${'b'.repeat(64)}` } },
          },
        });
        await call('PUT', `/v1/fleets/${fleetId}/default-release`, { release_id: release.id });
        await waitFor(
          async () => {
            const live = await call<{ running_release: { id: string } | null }>(
              'GET',
              `/v1/devices/${agent.deviceId}/status`,
            );
            return live.running_release?.id === release.id;
          },
          {
            what: `${broker}: the release delivered, run and reported`,
            timeoutMs: 20_000,
            intervalMs: 200,
          },
        );
      } finally {
        await agent.stop();
      }
    });

    it.skipIf(externalMqttUrl !== undefined)(
      "refuses a device's publishes outside its own prefixed topics",
      async () => {
        const { provisioningKey } = await provision('acl');
        const register = async () => {
          const response = await fetch(`${server.url}/v1/devices/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              provisioning_key: provisioningKey,
              uuid: crypto.randomUUID(),
              device_type: 'generic-amd64',
              architecture: 'amd64',
            }),
          });
          expect(response.status).toBe(201);
          return (await response.json()) as { device_id: string; token: string };
        };
        const [device, other] = [await register(), await register()];
        const connect = () =>
          mqtt.connectAsync(mqttUrl, {
            clientId: device.device_id,
            username: device.device_id,
            password: device.token,
            protocolVersion: 4,
            reconnectPeriod: 0,
          });
        const closedAfter = async (publish: (client: MqttClient) => void) => {
          const client = await connect();
          const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
          publish(client);
          await closed;
          client.end(true);
        };
        const own = await connect();
        try {
          const granted = await own.subscribeAsync(
            `${topicPrefix}devices/${device.device_id}/desired`,
            { qos: 1 },
          );
          expect(granted.map((g) => g.qos)).toEqual([1]);
          await expect(
            own.subscribeAsync(`devices/${device.device_id}/desired`, { qos: 1 }),
          ).rejects.toMatchObject({ packet: { granted: [128] } });
          await own.publishAsync(`${topicPrefix}devices/${device.device_id}/state`, '{}', {
            qos: 1,
          });
        } finally {
          own.end(true);
        }
        await closedAfter((client) =>
          client.publish(`devices/${device.device_id}/state`, '{}', { qos: 1 }),
        );
        await closedAfter((client) =>
          client.publish(`${topicPrefix}devices/${other.device_id}/state`, '{}', { qos: 1 }),
        );
      },
    );
  },
);
