import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  type DeviceOnlineMessage,
  internalTopics,
  parsePublicEventTopic,
  type PublicEvent,
  publicEventsFilter,
} from '@flock/protocol';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/platform/crypto/secret-box.js';
import type { Database } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { RedisKvStore } from '../../src/platform/kv/redis-kv-store.js';
import { insertSubscription, outboxCounts } from '../support/event-subscription-fixtures.js';
import { testMqttUrl } from '../support/ingester-harness.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { composeOf } from '../support/release-fixtures.js';
import { testKvUrl, uniquePrefix } from '../support/redis.js';
import { type ServerProcess, startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: 'silent' });

/** Ends the group sessions the gateway left at the broker, as a clean connection does. */
async function endSessions(url: string, clientId: string): Promise<void> {
  const groups = ['presence-1', 'device-events-1', 'rollouts-1'];
  for (const group of groups.map((suffix) => `events-gateway-${suffix}`)) {
    const client = await connectAsync(url, { clientId: `${clientId}-${group}`, clean: true });
    await client.endAsync();
  }
}

describe.skipIf(!testDatabaseUrl() || !testKvUrl() || !testMqttUrl())(
  'flock-server --target=events-gateway on PostgreSQL, Redis and Mosquitto',
  () => {
    it('stores, fans out and publishes every public event once across a kill -9', async () => {
      const mqttUrl = testMqttUrl() ?? '';
      const pg = await createTestDatabase();
      const apiDir = await mkdtemp(join(tmpdir(), 'flock-events-api-'));
      const gatewayDir = await mkdtemp(join(tmpdir(), 'flock-events-gateway-'));
      const kvPrefix = uniquePrefix('events-gateway');
      const topicPrefix = `${kvPrefix.replace(/:$/, '')}/`;
      const clientId = `flock-test-events-${randomBytes(4).toString('hex')}`;
      const secretKey = randomBytes(32).toString('base64');
      const env = {
        DATABASE_URL: pg.url,
        KV_URL: testKvUrl(),
        FLOCK_KV_KEY_PREFIX: kvPrefix,
        MQTT_URL: mqttUrl,
        FLOCK_MQTT_TOPIC_PREFIX: topicPrefix,
        FLOCK_SECRET_KEY: secretKey,
      };
      // Stable across the restart: the broker keeps what it owes the gateway's groups.
      const gatewayEnv = { ...env, FLOCK_DATA_DIR: gatewayDir, FLOCK_MQTT_CLIENT_ID: clientId };
      let api: ServerProcess | undefined;
      let gateway: ServerProcess | undefined;
      let client: MqttClient | undefined;
      let database: Database | undefined;
      try {
        api = await startServer(['--target=api'], { ...env, FLOCK_DATA_DIR: apiDir });
        const token = (await readFile(join(apiDir, 'bootstrap-owner-key'), 'utf8')).trim();
        const call = async (method: string, path: string, body?: unknown) => {
          const response = await fetch(`${api!.url}${path}`, {
            method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          const text = await response.text();
          if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
          return JSON.parse(text) as Record<string, unknown>;
        };
        const me = await call('GET', '/v1/me');
        const orgId = (me.orgs as { id: string }[])[0]!.id;
        const fleet = await call('POST', `/v1/orgs/${orgId}/fleets`, {
          name: 'events',
          device_type: 'generic-amd64',
          architecture: 'amd64',
        });
        const fleetId = fleet.id as string;

        database = await openDatabase({ url: pg.url, dataDir: gatewayDir, log });
        await migrateToLatest(database.db, log);
        const box = new SecretBox(Buffer.from(secretKey, 'base64'));
        const everything = await insertSubscription(database.db, box, orgId);
        const otherOrg = await database.db
          .insertInto('orgs')
          .values({ name: 'other' })
          .returning('id')
          .executeTakeFirstOrThrow();
        const otherOrgs = await insertSubscription(database.db, box, otherOrg.id);

        client = await connectAsync(mqttUrl, { clientId: `${clientId}-listener` });
        const published: { type: string; event: PublicEvent }[] = [];
        client.on('message', (topic, payload) => {
          const parsed = parsePublicEventTopic(topic.slice(topicPrefix.length));
          if (parsed !== undefined)
            published.push({
              type: parsed.type,
              event: JSON.parse(payload.toString()) as PublicEvent,
            });
        });
        await client.subscribeAsync(`${topicPrefix}${publicEventsFilter(orgId)}`, { qos: 1 });

        gateway = await startServer(['--target=events-gateway'], gatewayEnv);
        await call('POST', `/v1/fleets/${fleetId}/releases`, { compose: composeOf(1) });
        await waitFor(() => published.some((p) => p.type === 'release.created'), {
          timeoutMs: 15_000,
          message: 'the first release.created published on Mosquitto',
        });

        expect(gateway.child.kill('SIGKILL')).toBe(true);
        await once(gateway.child, 'exit');
        // While it is down: api changes wait in the audit log, presence in the broker.
        await call('POST', `/v1/fleets/${fleetId}/releases`, { compose: composeOf(2) });
        const key = await call('POST', `/v1/fleets/${fleetId}/provisioning-keys`, {});
        const deviceId = randomUUID();
        const registered = await fetch(`${api.url}/v1/devices/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            provisioning_key: key.provisioning_key,
            uuid: deviceId,
            device_type: 'generic-amd64',
            architecture: 'amd64',
          }),
        });
        expect(registered.status).toBe(201);
        const online: DeviceOnlineMessage = {
          v: 1,
          device_id: deviceId,
          org_id: orgId,
          fleet_id: fleetId,
          at: new Date().toISOString(),
        };
        await client.publishAsync(
          `${topicPrefix}${internalTopics.deviceOnline}`,
          JSON.stringify(online),
          { qos: 1 },
        );

        gateway = await startServer(['--target=events-gateway'], gatewayEnv);
        const expected = {
          'release.created': 2,
          'provisioning_key.created': 1,
          'device.registered': 1,
          'device.online': 1,
        };
        const countsByType = async () => {
          const rows = await database!.db
            .selectFrom('events')
            .select(['type', (eb) => eb.fn.countAll<string>().as('count')])
            .where('org_id', '=', orgId)
            .groupBy('type')
            .execute();
          return Object.fromEntries(rows.map((row) => [row.type, Number(row.count)]));
        };
        await waitFor(async () => isDeepStrictEqual(await countsByType(), expected), {
          timeoutMs: 30_000,
          message: 'every public event stored after the restart',
        }).catch(async (error: unknown) => {
          throw new Error(`stored: ${JSON.stringify(await countsByType())}`, { cause: error });
        });
        expect(await countsByType()).toEqual(expected);
        expect(await outboxCounts(database.db, [everything, otherOrgs])).toEqual({
          [everything]: 5,
          [otherOrgs]: 0,
        });
        await waitFor(() => published.some((p) => p.type === 'device.online'), {
          timeoutMs: 10_000,
          message: 'device.online published after the restart',
        });
        const stored = await database.db
          .selectFrom('events')
          .select(['id', 'payload'])
          .where('type', '=', 'device.online')
          .executeTakeFirstOrThrow();
        expect(published.find((p) => p.type === 'device.online')?.event).toEqual(stored.payload);
        expect((await gateway.stop()).code).toBe(0);
      } finally {
        await gateway?.stop();
        await api?.stop();
        await client?.endAsync();
        await endSessions(mqttUrl, clientId).catch(() => undefined);
        await database?.close();
        const kv = await RedisKvStore.open({ url: testKvUrl() ?? '', keyPrefix: kvPrefix, log });
        const keys: string[] = [];
        for await (const key of kv.keys('')) keys.push(key);
        await kv.del(keys);
        await kv.close();
        await pg.drop();
        await rm(apiDir, { recursive: true, force: true });
        await rm(gatewayDir, { recursive: true, force: true });
      }
    }, 120_000);
  },
);
