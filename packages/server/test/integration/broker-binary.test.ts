import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicePassword, serviceUsername } from '../../src/platform/bus/service-credential.js';
import { type ServerProcess, startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

/** A real server start; generous because CI machines run many test files at once. */
const startTimeoutMs = 60_000;

describe('flock-server --target=all: devices on the embedded broker', () => {
  let dataDir: string;
  let server: ServerProcess;
  let mqttUrl: string;
  let ownerKey: string;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flock-broker-e2e-'));
    server = await startServer(
      ['--target=all'],
      { FLOCK_DATA_DIR: dataDir },
      {
        timeoutMs: startTimeoutMs,
      },
    );
    ownerKey = /^ {6}(flk_\S+)$/m.exec(server.stderr())?.[1] ?? '';
    mqttUrl = String(server.logs.find((l) => l.msg.startsWith('MQTT listening on'))?.url);
  }, startTimeoutMs);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    if (server !== undefined) expect((await server.stop()).code).toBe(0);
    await rm(dataDir, { recursive: true, force: true });
  });

  async function call<T>(method: string, path: string, body?: object, key = ownerKey): Promise<T> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(key === '' ? {} : { authorization: `Bearer ${key}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(response.ok, `${method} ${path}: ${response.status}`).toBe(true);
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  async function registerDevice(): Promise<{ device_id: string; token: string }> {
    const orgId = String(
      server.logs.find((l) => l.msg.startsWith('created the bootstrap owner API key'))?.orgId,
    );
    const fleet = await call<{ id: string }>('POST', `/v1/orgs/${orgId}/fleets`, {
      name: `fleet-${randomUUID().slice(0, 8)}`,
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
    });
    const key = await call<{ provisioning_key: string }>(
      'POST',
      `/v1/fleets/${fleet.id}/provisioning-keys`,
      {},
    );
    return call(
      'POST',
      '/v1/devices/register',
      {
        provisioning_key: key.provisioning_key,
        uuid: randomUUID(),
        device_type: 'raspberrypi4-64',
        architecture: 'aarch64',
      },
      '',
    );
  }

  async function connect(options: { clientId: string; username?: string; password?: string }) {
    const client = await connectAsync(mqttUrl, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      ...options,
    });
    clients.push(client);
    return client;
  }

  it('admits a registered device with its token and refuses anonymous clients', async () => {
    const device = await registerDevice();
    const client = await connect({
      clientId: device.device_id,
      username: device.device_id,
      password: device.token,
    });
    await client.publishAsync(`devices/${device.device_id}/state`, '{}', { qos: 1 });
    await expect(connect({ clientId: 'anonymous' })).rejects.toMatchObject({ code: 5 });
  });

  it('disconnects a device within 10 s of DELETE /v1/devices/:id', async () => {
    const device = await registerDevice();
    const client = await connect({
      clientId: device.device_id,
      username: device.device_id,
      password: device.token,
    });
    const began = Date.now();
    await call('DELETE', `/v1/devices/${device.device_id}`);
    await waitFor(() => !client.connected, {
      timeoutMs: 10_000,
      message: 'the deleted device being disconnected',
    });
    expect(Date.now() - began).toBeLessThan(10_000);
  });

  it('admits another Flock process with the service password derived from the secret key', async () => {
    const key = Buffer.from((await readFile(join(dataDir, 'secret.key'), 'utf8')).trim(), 'base64');
    const client = await connect({
      clientId: `flock-${randomUUID()}`,
      username: serviceUsername,
      password: servicePassword(undefined, key),
    });
    const granted = await client.subscribeAsync('flock/internal/v1/#', { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
  });
});
