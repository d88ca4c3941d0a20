import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Rollout } from '@flock/protocol';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { issueToken } from '../../src/platform/auth/secret-token.js';
import type { Database } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { testMqttUrl } from '../support/ingester-harness.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { testKvUrl, uniquePrefix } from '../support/redis.js';
import { insertDevices, insertFleet, type TestFleet } from '../support/registry-fixtures.js';
import { restClient } from '../support/rest-client.js';
import { type ServerProcess, startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

const log = pino({ level: 'silent' });
const deviceCount = 40;

async function insertRelease(database: Database, fleet: TestFleet, version: number) {
  const row = await database.db
    .insertInto('releases')
    .values({
      org_id: fleet.orgId,
      fleet_id: fleet.fleetId,
      version,
      compose: JSON.stringify({ services: {} }),
      content_hash: `test-${version}`,
      created_by_type: 'test',
      created_by_id: 'fixtures',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

const leads = (server: ServerProcess) => server.logs.some((line) => line.msg === 'scheduler leads');

describe.skipIf(!testDatabaseUrl() || !testKvUrl() || !testMqttUrl())(
  'the scheduler on PostgreSQL, Redis and Mosquitto',
  () => {
    it('continues a rollout on the standby after the leader is killed: no device targeted twice, no stage skipped', async () => {
      const pg = await createTestDatabase();
      const dirs: string[] = [];
      const kvPrefix = uniquePrefix('scheduler-failover');
      const topicPrefix = `${kvPrefix.replace(/:$/, '')}/`;
      const servers: ServerProcess[] = [];
      let devicesClient: MqttClient | undefined;
      const database = await openDatabase({
        url: pg.url,
        dataDir: await mkdtemp(join(tmpdir(), 'flock-failover-')),
        log,
      });
      const env = async () => {
        const dir = await mkdtemp(join(tmpdir(), 'flock-failover-'));
        dirs.push(dir);
        return {
          FLOCK_DATA_DIR: dir,
          DATABASE_URL: pg.url,
          KV_URL: testKvUrl(),
          FLOCK_KV_KEY_PREFIX: kvPrefix,
          MQTT_URL: testMqttUrl(),
          FLOCK_MQTT_TOPIC_PREFIX: topicPrefix,
          FLOCK_SECRET_KEY: secretKey,
        };
      };
      const secretKey = randomBytes(32).toString('base64');
      try {
        await migrateToLatest(database.db, log);
        const fleet = await insertFleet(database);
        const before = await insertRelease(database, fleet, 1);
        const after = await insertRelease(database, fleet, 2);
        await database.db
          .updateTable('fleets')
          .set({ default_release_id: before })
          .where('id', '=', fleet.fleetId)
          .execute();
        const devices = await insertDevices(database, fleet, deviceCount);
        const key = issueToken('apiKey');
        await database.db
          .insertInto('api_keys')
          .values({
            org_id: fleet.orgId,
            name: 'failover',
            prefix: key.prefix,
            secret_hash: key.hash,
            role: 'developer',
            created_by_type: 'test',
            created_by_id: 'failover',
          })
          .execute();

        servers.push(await startServer(['--target=api,ingester'], await env()));
        const leader = await startServer(['--target=scheduler'], await env());
        servers.push(leader);
        await waitFor(() => leads(leader), { message: 'the first scheduler to lead' });
        const standby = await startServer(['--target=scheduler'], await env());
        servers.push(standby);
        const call = restClient(servers[0]!.url, key.token);

        const deployment = await call<{ id: string }>(
          'POST',
          `/v1/fleets/${fleet.fleetId}/deployments`,
          {
            name: 'failover',
            release_id: after,
            strategy: {
              type: 'progressive',
              stages: [
                { percent: 10, min_wait_seconds: 0 },
                { percent: 30, min_wait_seconds: 0 },
                { percent: 60, min_wait_seconds: 0 },
                { percent: 100, min_wait_seconds: 0 },
              ],
            },
          },
        );
        const { rollout_id: rolloutId } = await call<{ rollout_id: string }>(
          'POST',
          `/v1/deployments/${deployment.id}/start`,
        );

        // The devices, as agents behave: each sends a heartbeat naming the release it
        // runs, and a targeted one reports its update, again and again, but only while
        // `answering` says so.
        devicesClient = await connectAsync(testMqttUrl()!, {
          clientId: `flock-test-failover-${randomUUID().slice(0, 8)}`,
        });
        let answering = true;
        const publish = (deviceId: string, channel: 'state' | 'events', message: object) =>
          devicesClient!.publishAsync(
            `${topicPrefix}devices/${deviceId}/${channel}`,
            JSON.stringify({ v: 1, ...message }),
            { qos: 1 },
          );
        const answer = async () => {
          if (!answering) return;
          const rows = await database.db
            .selectFrom('rollout_devices')
            .select(['device_id', 'desired_release_id', 'status'])
            .where('rollout_id', '=', rolloutId)
            .execute();
          const desired = new Map(
            rows
              .filter((row) => row.status !== 'planned')
              .map((row) => [row.device_id, row.desired_release_id]),
          );
          await Promise.all(
            devices.map(async (deviceId) => {
              const release = desired.get(deviceId) ?? before;
              await publish(deviceId, 'state', {
                sent_at: new Date().toISOString(),
                running_release_id: release,
                services: [],
                agent_version: 'test',
                uptime_seconds: 1,
                addresses: [],
              });
              if (desired.has(deviceId))
                await publish(deviceId, 'events', {
                  id: randomUUID(),
                  occurred_at: new Date().toISOString(),
                  type: 'update.result',
                  release_id: release,
                  success: true,
                  duration_ms: 10,
                });
            }),
          );
        };
        const rollout = () => call<Rollout>('GET', `/v1/rollouts/${rolloutId}`);

        await waitFor(
          async () => {
            await answer();
            return (await rollout()).stage >= 1;
          },
          { message: 'stage 1', timeoutMs: 30_000, intervalMs: 250 },
        );
        // Mid-rollout: the leader dies without a word while stage 1 is updating.
        answering = false;
        const killedAt = Date.now();
        leader.child.kill('SIGKILL');
        answering = true;
        await waitFor(() => leads(standby), {
          message: 'the standby to take over',
          timeoutMs: 20_000,
          intervalMs: 100,
        });
        const takeoverMs = Date.now() - killedAt;
        const done = await waitFor(
          async () => {
            await answer();
            const current = await rollout();
            return current.state === 'completed' ? current : undefined;
          },
          { message: 'the rollout to complete on the standby', timeoutMs: 60_000, intervalMs: 250 },
        );
        console.log(`standby led ${takeoverMs} ms after the leader was killed`);
        expect(takeoverMs).toBeLessThan(15_000);
        expect(done.counts).toMatchObject({ targeted: deviceCount, succeeded: deviceCount });

        const advances = await database.db
          .selectFrom('audit_events')
          .select(['actor_id', 'summary'])
          .where('org_id', '=', fleet.orgId)
          .where('action', '=', 'rollout.stage_advanced')
          .where('resource_id', '=', rolloutId)
          .orderBy('seq')
          .execute();
        expect(advances.map((a) => a.summary.stage)).toEqual([0, 1, 2, 3]);
        const newly = advances.map((a) => a.summary.newly_targeted as number);
        expect(newly.reduce((sum, n) => sum + n, 0)).toBe(deviceCount);
        // Both schedulers advanced stages: the leader before it died, the standby after.
        expect(new Set(advances.map((a) => a.actor_id)).size).toBe(2);
        const rows = await database.db
          .selectFrom('rollout_devices')
          .select(['device_id', 'targeted_at'])
          .where('rollout_id', '=', rolloutId)
          .execute();
        expect(rows.map((r) => r.device_id).sort()).toEqual([...devices].sort());
        expect(rows.every((r) => r.targeted_at !== null)).toBe(true);
      } finally {
        await devicesClient?.endAsync();
        for (const server of servers.reverse()) await server.stop().catch(() => undefined);
        await database.close();
        await pg.drop();
        for (const dir of dirs) await rm(dir, { recursive: true, force: true });
      }
    }, 180_000);
  },
);
