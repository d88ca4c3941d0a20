import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { type ServerProcess, startServer } from '../support/server-process.js';

const log = pino({ level: 'silent' });
/** A real server start; generous because CI machines run many test files at once. */
const startTimeoutMs = 60_000;
const reports = 3_000;
/** Acknowledgements seen before the server is stopped: well inside the stream. */
const stopAfter = 400;

interface Device {
  id: string;
  token: string;
}

/** The embedded broker always; the database on PostgreSQL when one is configured. */
async function storage(): Promise<{ env: Record<string, string>; cleanUp(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-embedded-durability-'));
  const pg = testDatabaseUrl() === undefined ? undefined : await createTestDatabase();
  return {
    env: { FLOCK_DATA_DIR: dataDir, ...(pg === undefined ? {} : { DATABASE_URL: pg.url }) },
    async cleanUp() {
      await pg?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function registerDevice(server: ServerProcess): Promise<Device> {
  const ownerKey = /^ {6}(flk_\S+)$/m.exec(server.stderr())?.[1] ?? '';
  const call = async <T>(path: string, body: object, key = ownerKey): Promise<T> => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(key === '' ? {} : { authorization: `Bearer ${key}` }),
      },
      body: JSON.stringify(body),
    });
    expect(response.ok, `POST ${path}: ${response.status}`).toBe(true);
    return (await response.json()) as T;
  };
  const orgId = String(
    server.logs.find((l) => l.msg.startsWith('created the bootstrap owner API key'))?.orgId,
  );
  const fleet = await call<{ id: string }>(`/v1/orgs/${orgId}/fleets`, {
    name: `fleet-${randomUUID().slice(0, 8)}`,
    device_type: 'raspberrypi4-64',
    architecture: 'aarch64',
  });
  const key = await call<{ provisioning_key: string }>(
    `/v1/fleets/${fleet.id}/provisioning-keys`,
    {},
  );
  const device = await call<{ device_id: string; token: string }>(
    '/v1/devices/register',
    {
      provisioning_key: key.provisioning_key,
      uuid: randomUUID(),
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
    },
    '',
  );
  return { id: device.device_id, token: device.token };
}

function report(n: number): string {
  const line = { service: null, timestamp: new Date().toISOString(), stream: 'system' };
  return JSON.stringify({ v: 1, lines: [{ ...line, message: `report ${n}` }] });
}

/**
 * Publishes every report at once, QoS 1, as an agent flushing its buffer
 * does, and records which ones the broker acknowledged; `onAck` runs on
 * each acknowledgement, as it arrives.
 */
function publishReports(
  client: MqttClient,
  device: Device,
  onAck: (acknowledged: number) => void,
): Set<number> {
  const acknowledged = new Set<number>();
  for (let n = 0; n < reports; n += 1) {
    client.publish(`devices/${device.id}/logs`, report(n), { qos: 1 }, (error) => {
      if (error) return;
      acknowledged.add(n);
      onAck(acknowledged.size);
    });
  }
  return acknowledged;
}

/** The report numbers stored for the device, read once the server is gone. */
async function storedReports(env: Record<string, string>, device: Device): Promise<Set<number>> {
  const database = await openDatabase({
    url: env.DATABASE_URL,
    dataDir: env.FLOCK_DATA_DIR ?? '',
    log,
  });
  try {
    const rows = await database.db
      .selectFrom('device_logs')
      .select('message')
      .where('device_id', '=', device.id)
      .execute();
    return new Set(rows.map((row) => Number(/^report (\d+)$/.exec(row.message)?.[1])));
  } finally {
    await database.close();
  }
}

describe('flock-server --target=all: device reports acknowledged by the embedded broker', () => {
  const servers: ServerProcess[] = [];
  const clients: MqttClient[] = [];
  const cleanUps: (() => Promise<void>)[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
    await Promise.all(servers.splice(0).map((server) => server.stop('SIGKILL')));
    for (const cleanUp of cleanUps.splice(0)) await cleanUp();
  });

  async function start(env: Record<string, string>): Promise<ServerProcess> {
    const server = await startServer(['--target=all'], env, { timeoutMs: startTimeoutMs });
    servers.push(server);
    return server;
  }

  async function connectDevice(server: ServerProcess, device: Device): Promise<MqttClient> {
    const url = String(server.logs.find((l) => l.msg.startsWith('MQTT listening on'))?.url);
    const client = await connectAsync(url, {
      clientId: device.id,
      username: device.id,
      password: device.token,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(client);
    return client;
  }

  async function stopMidStream(signal: 'SIGKILL' | 'SIGTERM') {
    const { env, cleanUp } = await storage();
    cleanUps.push(cleanUp);
    const server = await start(env);
    const device = await registerDevice(server);
    const client = await connectDevice(server, device);
    // The server going away resets the connection; that is the point here.
    client.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    let acknowledged = new Set<number>();
    const exit = await new Promise<{ code: number | null }>((resolve) => {
      acknowledged = publishReports(client, device, (count) => {
        // At once, in the acknowledgement's own tick: mid-stream.
        if (count === stopAfter) resolve(server.stop(signal));
      });
    });
    await closed;
    return { env, device, acknowledged, exit };
  }

  it('stores every report acknowledged before a kill -9, and the server restarts on its data', async () => {
    const { env, device, acknowledged } = await stopMidStream('SIGKILL');
    expect(acknowledged.size).toBeGreaterThanOrEqual(stopAfter);
    expect(acknowledged.size).toBeLessThan(reports);

    const restarted = await start(env);
    expect((await restarted.stop()).code).toBe(0);
    const stored = await storedReports(env, device);
    const lost = [...acknowledged].filter((n) => !stored.has(n));
    expect(lost, `${lost.length} of ${acknowledged.size} acknowledged reports lost`).toEqual([]);
  }, 240_000);

  it('stores every report acknowledged before a SIGTERM, and stops cleanly', async () => {
    const { env, device, acknowledged, exit } = await stopMidStream('SIGTERM');
    expect(exit.code).toBe(0);
    expect(acknowledged.size).toBeGreaterThanOrEqual(stopAfter);
    const stored = await storedReports(env, device);
    const lost = [...acknowledged].filter((n) => !stored.has(n));
    expect(lost, `${lost.length} of ${acknowledged.size} acknowledged reports lost`).toEqual([]);
  }, 240_000);
});
