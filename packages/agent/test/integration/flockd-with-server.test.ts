import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ServerProcess,
  serverBinary,
  startServer,
} from '../../../server/test/support/server-process.js';
import { parseConfig } from '../../src/config/load-config.js';
import { SimulatedRuntime } from '../../src/runtime/simulated-runtime.js';
import { type RunningAgent, startAgent } from '../../src/start-agent.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: process.env.FLOCKD_TEST_LOG ?? 'silent' });

/** A JWT-shaped token that says it expired an hour ago. */
function expiredToken(): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'EdDSA' })}.${part({ iat: now - 7200, exp: now - 3600 })}.x`;
}

describe.skipIf(!existsSync(serverBinary))('flockd against the real flock-server', () => {
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
    serverDir = await mkdtemp(join(tmpdir(), 'flockd-server-'));
    agentDir = await mkdtemp(join(tmpdir(), 'flockd-agent-'));
    server = await startServer(
      ['--target=all'],
      { FLOCK_DATA_DIR: serverDir },
      { timeoutMs: 90_000 },
    );
    const listening = server.logs.map((l) => /^MQTT listening on (mqtt:\/\/\S+)$/.exec(l.msg)?.[1]);
    mqttUrl = listening.find((url) => url !== undefined)!;
    ownerKey = (await readFile(join(serverDir, 'bootstrap-owner-key'), 'utf8')).trim();
    // PGlite migrates a new database first, slowly on a loaded machine.
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await rm(serverDir, { recursive: true, force: true, maxRetries: 5 });
    await rm(agentDir, { recursive: true, force: true });
  });

  it('registers with a provisioning key made through the API, connects, and renews its token', async () => {
    expect(mqttUrl).toMatch(/^mqtt:\/\//);
    const me = await call<{ api_key: { org_id: string } }>('GET', '/v1/me');
    const fleet = await call<{ id: string }>('POST', `/v1/orgs/${me.api_key.org_id}/fleets`, {
      name: 'edge',
      device_type: 'generic-amd64',
      architecture: 'amd64',
    });
    const key = await call<{ provisioning_key: string }>(
      'POST',
      `/v1/fleets/${fleet.id}/provisioning-keys`,
      {
        name: 'flockd test',
        max_uses: 1,
      },
    );
    const config = parseConfig({
      api_url: server.url,
      mqtt_url: mqttUrl,
      provisioning_key: key.provisioning_key,
      data_dir: agentDir,
      device_type: 'generic-amd64',
      architecture: 'amd64',
      runtime: 'simulated',
      intervals: { reconcile_seconds: 0.2 },
    });
    const launch = () =>
      startAgent(config, {
        log,
        runtime: new SimulatedRuntime(),
        retry: { initialMs: 50, maxMs: 500 },
      });
    const ready = async (agent: RunningAgent) =>
      waitFor(() => agent.status().connected && agent.status().pendingReports === 0, {
        what: 'a connected agent whose first heartbeat was acknowledged',
        timeoutMs: 15_000,
      });

    const first = await launch();
    try {
      await ready(first);
    } finally {
      await first.stop();
    }
    const device = await call<{ id: string; fleet_id: string; agent_version: string }>(
      'GET',
      `/v1/devices/${first.deviceId}`,
    );
    expect(device).toMatchObject({
      id: first.deviceId,
      fleet_id: fleet.id,
      agent_version: '0.1.0',
    });

    // A token that has expired makes the agent renew it with its device secret
    // at /v1/devices/token; the key (max_uses 1) is never needed again.
    const credentialsPath = join(agentDir, 'credentials.json');
    const stored = JSON.parse(await readFile(credentialsPath, 'utf8')) as { token: string };
    await writeFile(credentialsPath, JSON.stringify({ ...stored, token: expiredToken() }), {
      mode: 0o600,
    });
    const second = await launch();
    try {
      expect(second.deviceId).toBe(first.deviceId);
      const renewed = await waitFor(
        async () => {
          const { token } = JSON.parse(await readFile(credentialsPath, 'utf8')) as {
            token: string;
          };
          return token.split('.').length === 3 && !token.endsWith('.x') ? token : undefined;
        },
        { what: 'a renewed token' },
      );
      const claims = JSON.parse(Buffer.from(renewed.split('.')[1]!, 'base64url').toString()) as {
        exp: number;
        sub?: string;
      };
      expect(claims.exp * 1000).toBeGreaterThan(Date.now());
      await ready(second);
    } finally {
      await second.stop();
    }
  });
  it('converges to the release the fleet defaults to, reports it, and acknowledges a command', async () => {
    const me = await call<{ api_key: { org_id: string } }>('GET', '/v1/me');
    const fleet = await call<{ id: string }>('POST', `/v1/orgs/${me.api_key.org_id}/fleets`, {
      name: 'converge',
      device_type: 'generic-amd64',
      architecture: 'amd64',
    });
    const key = await call<{ provisioning_key: string }>(
      'POST',
      `/v1/fleets/${fleet.id}/provisioning-keys`,
      {},
    );
    const dataDir = join(agentDir, 'converge');
    const agent = await startAgent(
      parseConfig({
        api_url: server.url,
        mqtt_url: mqttUrl,
        provisioning_key: key.provisioning_key,
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
      const release = await call<{ id: string }>('POST', `/v1/fleets/${fleet.id}/releases`, {
        compose: {
          services: {
            web: {
              image: `registry.example/web@sha256:${'a'.repeat(64)}`,
              environment: { GREETING: 'hello' },
              ports: ['8080:80'],
            },
          },
        },
      });
      await call('PUT', `/v1/fleets/${fleet.id}/default-release`, { release_id: release.id });
      type Status = {
        running_release: { id: string } | null;
        services: Array<{ name: string; status: string }>;
        update: { status: string } | null;
      };
      const status = await waitFor(
        async () => {
          const live = await call<Status>('GET', `/v1/devices/${agent.deviceId}/status`);
          return live.running_release?.id === release.id &&
            live.services.some((s) => s.name === 'web' && s.status === 'running')
            ? live
            : undefined;
        },
        { what: 'the release running, as the server sees it', timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(status.update?.status).toBe('succeeded');

      const command = await call<{ id: string }>('POST', `/v1/devices/${agent.deviceId}/commands`, {
        type: 'identify',
      });
      await waitFor(
        async () =>
          (
            await call<{ status: string }>(
              'GET',
              `/v1/devices/${agent.deviceId}/commands/${command.id}`,
            )
          ).status === 'completed',
        { what: 'the command acknowledged as completed', timeoutMs: 20_000, intervalMs: 200 },
      );
    } finally {
      await agent.stop();
    }
  });
});
