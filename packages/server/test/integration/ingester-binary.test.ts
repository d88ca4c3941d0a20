import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { RedisKvStore } from '../../src/platform/kv/redis-kv-store.js';
import { heartbeat, liveStates, testMqttUrl } from '../support/ingester-harness.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { testKvUrl, uniquePrefix } from '../support/redis.js';
import { insertDevices, insertFleet } from '../support/registry-fixtures.js';
import { type ServerProcess, startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: 'silent' });
const messages = 1_500;
const killAfter = 400;

/** Ends the group sessions the ingester left at the broker, as a clean connection does. */
async function endSessions(url: string, clientId: string): Promise<void> {
  const groups = ['state-1', 'state-2', 'state-3', 'state-4', 'telemetry-1', 'logs-1', 'events-1'];
  for (const suffix of [...groups.map((g) => `ingesters-${g}`), 'ingesters-presence-1']) {
    const client = await connectAsync(url, { clientId: `${clientId}-${suffix}`, clean: true });
    await client.endAsync();
  }
}

describe.skipIf(!testDatabaseUrl() || !testKvUrl() || !testMqttUrl())(
  'flock-server --target=ingester on PostgreSQL, Redis and Mosquitto',
  () => {
    it('loses no acknowledged heartbeat when it is killed mid-stream and restarted', async () => {
      const mqttUrl = testMqttUrl() ?? '';
      const pg = await createTestDatabase();
      const dataDir = await mkdtemp(join(tmpdir(), 'flock-ingester-kill-'));
      const kvPrefix = uniquePrefix('ingester-kill');
      const topicPrefix = `${kvPrefix.replace(/:$/, '')}/`;
      const clientId = `flock-test-ingester-${randomBytes(4).toString('hex')}`;
      const kv = await RedisKvStore.open({ url: testKvUrl() ?? '', keyPrefix: kvPrefix, log });
      let publisher: MqttClient | undefined;
      let server: ServerProcess | undefined;
      try {
        const database = await openDatabase({ url: pg.url, dataDir, log });
        await migrateToLatest(database.db, log);
        const devices = await insertDevices(database, await insertFleet(database), messages);
        const env = {
          FLOCK_DATA_DIR: dataDir,
          DATABASE_URL: pg.url,
          KV_URL: testKvUrl(),
          FLOCK_KV_KEY_PREFIX: kvPrefix,
          MQTT_URL: mqttUrl,
          FLOCK_MQTT_TOPIC_PREFIX: topicPrefix,
          // Stable across the restart: the broker keeps the sessions' messages.
          FLOCK_MQTT_CLIENT_ID: clientId,
        };
        server = await startServer(['--target=ingester'], env);
        publisher = await connectAsync(mqttUrl, { clientId: `${clientId}-publisher` });

        // Heartbeat n goes to device n, so each one's effect can be checked.
        const acknowledged: number[] = [];
        const publish = async (from: number, to: number) => {
          const sent: Promise<void>[] = [];
          for (let n = from; n < to; n += 1) {
            const topic = `${topicPrefix}devices/${devices[n]}/state`;
            sent.push(
              publisher!.publishAsync(topic, heartbeat(n), { qos: 1 }).then(() => {
                acknowledged.push(n);
              }),
            );
            if (n % 50 === 49) await Promise.all(sent.splice(0));
          }
          await Promise.all(sent);
        };
        await publish(0, killAfter);
        expect(server.child.kill('SIGKILL')).toBe(true);
        await once(server.child, 'exit');
        await publish(killAfter, messages);
        const storedWhileDown = (await liveStates(kv, devices)).filter((s) => s.state).length;
        expect(storedWhileDown).toBeLessThan(messages);

        const restartedAt = Date.now();
        server = await startServer(['--target=ingester'], env);
        const live = await waitFor(
          async () => {
            const states = await liveStates(kv, devices);
            const absent = acknowledged.filter((n) => states[n]?.state?.uptime_seconds !== n);
            return absent.length === 0 ? states : undefined;
          },
          { timeoutMs: 30_000, message: 'every acknowledged heartbeat in the KV store' },
        );
        expect(acknowledged).toHaveLength(messages);
        // Registry rows follow a few seconds behind, in memory until then: the
        // killed process took its pending ones along, and those devices' rows
        // catch up with their next heartbeat. The restarted one's must land.
        const sinceRestart = devices.filter(
          (_, n) => Date.parse(live[n]?.receivedAt ?? '') >= restartedAt,
        );
        expect(sinceRestart.length).toBeGreaterThan(0);
        await waitFor(
          async () => {
            const seen = await database.db
              .selectFrom('devices')
              .select((eb) => eb.fn.countAll<string>().as('count'))
              .where('id', 'in', sinceRestart)
              .where('last_seen_at', 'is not', null)
              .executeTakeFirstOrThrow();
            return Number(seen.count) === sinceRestart.length;
          },
          { timeoutMs: 20_000, message: 'the rows of devices heard since the restart' },
        );
        expect((await server.stop()).code).toBe(0);
        await database.close();
      } finally {
        await server?.stop();
        await publisher?.endAsync();
        await endSessions(mqttUrl, clientId).catch(() => undefined);
        const keys: string[] = [];
        for await (const key of kv.keys('')) keys.push(key);
        await kv.del(keys);
        await kv.close();
        await pg.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    }, 120_000);
  },
);
