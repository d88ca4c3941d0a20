import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { internalTopics } from '@flock/protocol';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openBrokerAccess } from '../../../test/support/open-broker-access.js';
import { waitFor } from '../../../test/support/wait-for.js';
import type { ModuleContext } from '../../app/module.js';
import { createDeviceTokens } from '../auth/create-device-tokens.js';
import { loadConfig } from '../config/load-config.js';
import { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/database.js';
import { ensureInstallation } from '../db/ensure-installation.js';
import { migrateToLatest } from '../db/migrate.js';
import { openDatabase } from '../db/open-database.js';
import type { BrokerAccess, ConnectAttempt } from './broker-access.js';
import { busModule } from './bus-module.js';
import { startEmbeddedBroker } from './embedded-broker.js';
import { silentLog } from './recorder.contract.js';
import { servicePassword, serviceUsername } from './service-credential.js';

const secretKey = randomBytes(32);
let dataDir: string;
let database: Database;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-bus-module-'));
  database = await openDatabase({ url: undefined, dataDir, log: silentLog });
  await migrateToLatest(database.db, silentLog);
  await ensureInstallation(database.db);
});

afterAll(async () => {
  await database?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function contextFor(env: Record<string, string>): { context: ModuleContext; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const context: ModuleContext = {
    config: loadConfig({
      env: {
        FLOCK_MQTT_PORT: '0',
        FLOCK_MQTT_WS_PORT: '0',
        FLOCK_DATA_DIR: dataDir,
        FLOCK_SECRET_KEY: secretKey.toString('base64'),
        ...env,
      },
    }),
    log: pino({ level: 'info' }, sink),
    metrics: new Registry(),
    readiness: async () => ({ ready: true, checks: [] }),
    fail: () => undefined,
  };
  return { context, lines };
}

const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function client(url: string, options: IClientOptions): Promise<MqttClient> {
  const connected = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, ...options });
  closers.unshift(() => connected.endAsync(true));
  return connected;
}

describe('busModule', () => {
  it('embeds a broker when no MQTT URL is set, and says where it listens', async () => {
    const { context, lines } = contextFor({});
    const running = await busModule.init(context, { db: database });
    closers.push(async () => running.stop?.());
    expect(running.exports.kind).toBe('embedded');
    await running.ready?.();
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual([
      expect.stringMatching(/^MQTT listening on mqtt:\/\/127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^MQTT over WebSocket listening on ws:\/\/127\.0\.0\.1:\d+$/),
    ]);
    await running.stop?.();
    await expect(running.ready?.()).rejects.toThrow(/closed/);
  });

  it('admits devices and the service credential to the embedded broker, and nobody else', async () => {
    const { context, lines } = contextFor({});
    const running = await busModule.init(context, { db: database });
    closers.push(async () => running.stop?.());
    const url = /MQTT listening on (\S+)/.exec(lines.join(''))?.[1] ?? '';
    const password = servicePassword(undefined, secretKey);
    // Server unavailable until the registry opens the module, credentials or not.
    await expect(
      client(url, { clientId: 'early', username: serviceUsername, password }),
    ).rejects.toMatchObject({ code: 3 });
    await running.open?.();
    await expect(client(url, { clientId: 'anonymous' })).rejects.toMatchObject({ code: 5 });
    const service = await client(url, {
      clientId: 'other-flock',
      username: serviceUsername,
      password,
    });
    expect(service.connected).toBe(true);

    const { deviceTokens } = await createDeviceTokens({
      db: database.db,
      box: new SecretBox(secretKey),
      config: context.config,
    });
    await deviceTokens.rotateIfDue();
    const device = await insertDevice();
    const { token } = await deviceTokens.sign(device);
    const connected = await client(url, {
      clientId: device.id,
      username: device.id,
      password: token,
    });

    // The deregistration the API announces reaches the broker through this module.
    await running.exports.publish(
      internalTopics.audit,
      JSON.stringify({ action: 'device.deregistered', resourceId: device.id }),
      { qos: 1 },
    );
    await waitFor(() => !connected.connected, { message: 'the device being disconnected' });
  });

  it('connects to the broker at MQTT_URL and never logs its password', async () => {
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
      access: openBrokerAccess,
    });
    closers.push(() => broker.close());
    const url = new URL(broker.listeners[0] ?? '');
    url.username = 'flock';
    url.password = 'hunter2';
    const { context, lines } = contextFor({ MQTT_URL: url.toString() });
    const running = await busModule.init(context, { db: database });
    closers.unshift(async () => running.stop?.());
    expect(running.exports.kind).toBe('mqtt');
    await running.ready?.();
    const output = lines.join('');
    expect(output).toContain(`MQTT connected to mqtt://flock:***@127.0.0.1:${url.port}`);
    expect(output).not.toContain('hunter2');
  });

  it('sends the service credential to a broker whose URL names no user', async () => {
    const attempts: ConnectAttempt[] = [];
    const recording: BrokerAccess = {
      ...openBrokerAccess,
      authenticate: async (attempt) => {
        attempts.push(attempt);
        return { kind: 'service' };
      },
    };
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      wsPort: 0,
      log: silentLog,
      access: recording,
    });
    closers.push(() => broker.close());
    const { context } = contextFor({ MQTT_URL: broker.listeners[0] ?? '' });
    const running = await busModule.init(context, { db: database });
    closers.unshift(async () => running.stop?.());
    await running.ready?.();
    expect(attempts.map((a) => [a.username, a.password?.toString(), a.inProcess])).toEqual([
      [serviceUsername, servicePassword(undefined, secretKey), false],
    ]);
  });
});

async function insertDevice(): Promise<{ id: string; orgId: string; fleetId: string }> {
  const org = await database.db
    .insertInto('orgs')
    .values({ name: `org-${randomUUID()}` })
    .returning('id')
    .executeTakeFirstOrThrow();
  const fleet = await database.db
    .insertInto('fleets')
    .values({ org_id: org.id, name: 'f', device_type: 'raspberrypi4-64', architecture: 'aarch64' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const id = randomUUID();
  await database.db
    .insertInto('devices')
    .values({
      id,
      org_id: org.id,
      fleet_id: fleet.id,
      name: id.slice(0, 7),
      device_type: 'raspberrypi4-64',
      architecture: 'aarch64',
      secret_hash: 'unused',
    })
    .execute();
  return { id, orgId: org.id, fleetId: fleet.id };
}
