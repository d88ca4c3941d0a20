import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PublicEvent, webhookHeaders } from '@flock/protocol';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { openDatabase } from '../../src/platform/db/open-database.js';
import { testMqttUrl } from '../support/ingester-harness.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { uniquePrefix } from '../support/redis.js';
import { insertFleet } from '../support/registry-fixtures.js';
import { type ServerProcess, startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';
import {
  type TestSubscription,
  insertSubscription,
  recordOnlineEvents,
  testSecretKey,
} from '../support/webhook-fixtures.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const log = pino({ level: 'silent' });
const subscriptions = 10;
const eventCount = 100;

interface Setup {
  database: Database;
  receiver: WebhookReceiver;
  subscriptions: TestSubscription[];
  events: PublicEvent[];
}

/** Subscriptions at one receiver, each owed every event. */
async function owe(database: Database, receiver: WebhookReceiver): Promise<Setup> {
  const { orgId } = await insertFleet(database);
  const made: TestSubscription[] = [];
  for (let n = 0; n < subscriptions; n += 1) {
    made.push(await insertSubscription(database, orgId, `${receiver.url}?s=${n}`));
  }
  const events = await recordOnlineEvents(database, orgId, eventCount);
  return { database, receiver, subscriptions: made, events };
}

/** Every event arrived at every subscription, verified, in order; no attempt twice. */
function expectEverythingOnce({ receiver, subscriptions: subs, events }: Setup): void {
  const keys = receiver.received.map(
    (w) => `${w.path} ${w.headers['webhook-id']} ${w.headers[webhookHeaders.attempt]}`,
  );
  expect(new Set(keys).size).toBe(keys.length);
  for (const [n, subscription] of subs.entries()) {
    const accepted = receiver.accepted.filter((w) => w.path.endsWith(`?s=${n}`));
    const firstSeen = [...new Set(accepted.map((w) => w.headers['webhook-id']))];
    expect(firstSeen).toEqual(events.map((event) => event.id));
    const library = new Webhook(subscription.secret);
    for (const webhook of accepted)
      expect(() => library.verify(webhook.body, webhook.headers)).not.toThrow();
  }
}

const everyEventEverywhere = (receiver: WebhookReceiver) =>
  new Set(receiver.accepted.map((w) => `${w.path} ${w.headers['webhook-id']}`)).size ===
  subscriptions * eventCount;

/** Rows claimed more than once: every answer was 2xx, so only claims the kill cut off. */
async function retriedAfterKill(database: Database): Promise<number> {
  const rows = await database.db
    .selectFrom('webhook_outbox')
    .select('id')
    .where('attempts', '>', 1)
    .execute();
  return rows.length;
}

function gatewayEnv(dataDir: string, extra: Record<string, string | undefined>) {
  const mqttUrl = testMqttUrl();
  return {
    FLOCK_DATA_DIR: dataDir,
    FLOCK_SECRET_KEY: testSecretKey.toString('base64'),
    FLOCK_WEBHOOKS_ALLOW_PRIVATE: 'true',
    FLOCK_WEBHOOKS_TIMEOUT_MS: '1000',
    FLOCK_WEBHOOKS_RETRY_SCHEDULE: '100ms,200ms,400ms,800ms,1s,1s,1s,1s',
    FLOCK_WEBHOOKS_CONCURRENCY: '4',
    MQTT_URL: mqttUrl,
    FLOCK_MQTT_TOPIC_PREFIX:
      mqttUrl === undefined ? undefined : `${uniquePrefix('webhooks').replace(/:$/, '')}/`,
    ...extra,
  };
}

async function kill(server: ServerProcess): Promise<void> {
  expect(server.child.kill('SIGKILL')).toBe(true);
  await once(server.child, 'exit');
}

describe('flock-server --target=events-gateway, killed mid-delivery', () => {
  it.skipIf(!testDatabaseUrl())(
    'two replicas on PostgreSQL share the outbox; killing both one after the other loses nothing and sends no attempt twice',
    async () => {
      const pg = await createTestDatabase();
      const dataDirs = await Promise.all([0, 1, 2].map(() => mkdtemp(join(tmpdir(), 'flock-gw-'))));
      const receiver = await WebhookReceiver.start();
      receiver.delayMs = 5;
      const database = await openDatabase({ url: pg.url, dataDir: dataDirs[0]!, log });
      const servers: ServerProcess[] = [];
      try {
        await migrateToLatest(database.db, log);
        const setup = await owe(database, receiver);
        const start = async (n: number) => {
          const server = await startServer(
            ['--target=events-gateway'],
            gatewayEnv(dataDirs[n]!, { DATABASE_URL: pg.url }),
          );
          servers.push(server);
          return server;
        };
        const [first, second] = await Promise.all([start(0), start(1)]);

        await waitFor(() => receiver.received.length >= 300, { timeoutMs: 30_000 });
        await kill(first!);
        await waitFor(() => receiver.received.length >= 600, { timeoutMs: 30_000 });
        await kill(second!);
        await start(2);

        await waitFor(() => everyEventEverywhere(receiver), {
          timeoutMs: 60_000,
          message: 'every event at every subscription',
        });
        expectEverythingOnce(setup);
        await waitFor(async () => {
          const pending = await database.db
            .selectFrom('webhook_outbox')
            .select('id')
            .where('state', '<>', 'delivered')
            .execute();
          return pending.length === 0;
        });
        expect(await retriedAfterKill(database)).toBeGreaterThan(0);
      } finally {
        for (const server of servers) await server.stop();
        await database.close();
        await receiver.down();
        await pg.drop();
        for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );

  it('on embedded PGlite, restarted after kill -9, loses nothing and sends no attempt twice', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flock-gw-'));
    const receiver = await WebhookReceiver.start();
    receiver.delayMs = 5;
    let server: ServerProcess | undefined;
    try {
      // The server owns the data directory while it runs: prepare, close, then start it.
      let database = await openDatabase({ dataDir, log });
      await migrateToLatest(database.db, log);
      const setup = await owe(database, receiver);
      await database.close();
      const env = gatewayEnv(dataDir, { MQTT_URL: undefined, FLOCK_MQTT_TOPIC_PREFIX: undefined });

      server = await startServer(['--target=events-gateway'], env);
      await waitFor(() => receiver.received.length >= 300, { timeoutMs: 30_000 });
      await kill(server);
      server = await startServer(['--target=events-gateway'], env);
      await waitFor(() => everyEventEverywhere(receiver), {
        timeoutMs: 60_000,
        message: 'every event at every subscription',
      });
      expectEverythingOnce(setup);
      await server.stop();
      database = await openDatabase({ dataDir, log });
      const left = await database.db
        .selectFrom('webhook_outbox')
        .select('id')
        .where('state', '<>', 'delivered')
        .execute();
      const retried = await retriedAfterKill(database);
      await database.close();
      expect(left).toEqual([]);
      expect(retried).toBeGreaterThan(0);
    } finally {
      await server?.stop();
      await receiver.down();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
