// Translation and fan-out: the events gateway's sources into stored public
// events and webhook outbox rows, on PostgreSQL and Mosquitto. `npm run
// build` first; uses FLOCK_BENCH_DATABASE_URL and FLOCK_BENCH_MQTT_URL (the
// test defaults otherwise). The gateway's translation part (EventsGateway,
// from dist, in this process; delivery is measured by `webhooks`) follows
// device.online messages on the internal topic, QoS 1, into events with one
// outbox row per subscription (100, every one matching). Measured:
//   capacity: a burst of device.online messages (a fleet reconnecting),
//     public events stored per second and outbox rows per second;
//   latency: an open-loop rate, p50/p99 from the message's publish to its
//     public event arriving on flock/events/v1 (published after commit);
//   baseline: the same burst through Mosquitto to a plain subscriber, the
//     rate at which the input can arrive at all.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { createDatabase } from './support/flock-processes.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (path) => pathToFileURL(join(root, 'packages/server/dist', path)).href;
const env = (name, fallback) => process.env[name]?.trim() || fallback;
const mqttUrl = env('FLOCK_BENCH_MQTT_URL', 'mqtt://127.0.0.1:1883');
const subscriptions = Number(env('FLOCK_BENCH_SUBSCRIPTIONS', '100'));
// Mosquitto's default session queue holds 1,000 QoS 1 messages and drops
// the rest (docs/ingester.md has the settings for real loads), so a burst
// past that on a default broker measures loss, not speed.
const burst = Number(env('FLOCK_BENCH_BURST', '1000'));
const eventsPerSecond = Number(env('FLOCK_BENCH_EVENTS_PER_SECOND', '50'));
const latencySeconds = Number(env('FLOCK_BENCH_LATENCY_SECONDS', '10'));
// The delivery target is 2,000 deliveries/s; fan-out must write outbox rows faster.
const targetRowsPerSecond = 2_000;

const round = (value, digits = 0) => Number(value.toFixed(digits));
const percentile = (sorted, p) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** Publishes `count` messages QoS 1, at most `window` unacknowledged; resolves when all are acknowledged. */
async function publishAll(client, messages, window = 200) {
  const pending = new Set();
  for (const [topic, payload] of messages) {
    const sent = client.publishAsync(topic, payload, { qos: 1 }).then(() => pending.delete(sent));
    pending.add(sent);
    if (pending.size >= window) await Promise.race(pending);
  }
  await Promise.all(pending);
}

export default async function run({ log }) {
  const { pino } = await import('pino');
  const { Registry } = await import('prom-client');
  const { openDatabase } = await import(dist('platform/db/open-database.js'));
  const { migrateToLatest } = await import(dist('platform/db/migrate.js'));
  const { openBus } = await import(dist('platform/bus/open-bus.js'));
  const { MemoryKvStore } = await import(dist('platform/kv/memory-kv-store.js'));
  const { EventsGateway } = await import(dist('targets/events-gateway/events-gateway.js'));
  const quiet = pino({ level: 'silent' });
  const loadAtStart = round(loadavg()[0], 2);

  const database = await createDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-bench-fanout-'));
  const topicPrefix = `bench-fanout-${randomBytes(4).toString('hex')}/`;
  let db, bus, gateway, client;
  try {
    db = await openDatabase({ url: database.url, dataDir, log: quiet });
    await migrateToLatest(db.db, quiet);
    const org = await db.db
      .insertInto('orgs')
      .values({ name: 'bench' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const fleet = await db.db
      .insertInto('fleets')
      .values({ org_id: org.id, name: 'bench', device_type: 'generic', architecture: 'amd64' })
      .returning('id')
      .executeTakeFirstOrThrow();
    for (let n = 0; n < subscriptions; n += 1) {
      await db.db
        .insertInto('event_subscriptions')
        .values({
          org_id: org.id,
          url: `http://127.0.0.1:${10_000 + n}/`,
          event_types: ['device.*'],
          secret_ciphertext: 'unused: nothing is delivered here',
          updated_at: new Date(),
        })
        .execute();
    }
    ({ bus } = await openBus({
      url: mqttUrl,
      topicPrefix,
      host: '',
      port: 0,
      wsPort: 0,
      log: quiet,
    }));
    client = await mqtt.connectAsync(mqttUrl, { clientId: `bench-fanout-${randomUUID()}` });

    const online = (at) =>
      JSON.stringify({ v: 1, device_id: randomUUID(), org_id: org.id, fleet_id: fleet.id, at });
    const inputTopic = `${topicPrefix}flock/internal/v1/device/online`;

    // Baseline: the same burst through the broker to a plain QoS 1 subscriber.
    log(`baseline: ${burst} messages through Mosquitto`);
    const baselineTopic = `${topicPrefix}bench/baseline`;
    let arrived = 0;
    const listener = await mqtt.connectAsync(mqttUrl, {
      clientId: `bench-listener-${randomUUID()}`,
    });
    listener.on('message', () => (arrived += 1));
    await listener.subscribeAsync(baselineTopic, { qos: 1 });
    const baselineStart = performance.now();
    await publishAll(
      client,
      Array.from({ length: burst }, () => [baselineTopic, online(new Date().toISOString())]),
    );
    while (arrived < burst) await delay(5);
    const baselineRate = round(burst / ((performance.now() - baselineStart) / 1000));
    log(`baseline ${baselineRate} messages/s`);

    gateway = new EventsGateway({
      db: db.db,
      kv: new MemoryKvStore(),
      bus,
      log: quiet,
      registry: new Registry(),
    });
    await gateway.start();

    const count = async (table) =>
      Number(
        (
          await db.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    log(`capacity: ${burst} device.online × ${subscriptions} subscriptions`);
    const capacityStart = performance.now();
    await publishAll(
      client,
      Array.from({ length: burst }, () => [inputTopic, online(new Date().toISOString())]),
    );
    const published = performance.now();
    const capacityDeadline = performance.now() + 120_000;
    while ((await count('events')) < burst) {
      if (performance.now() > capacityDeadline)
        throw new Error(`only ${await count('events')} of ${burst} events stored within 120 s`);
      await delay(50);
    }
    const capacitySeconds = (performance.now() - capacityStart) / 1000;
    const rows = await count('webhook_outbox');
    if (rows !== burst * subscriptions)
      throw new Error(`outbox rows ${rows}, expected ${burst * subscriptions}`);
    const eventsPerSecondStored = round(burst / capacitySeconds);
    const rowsPerSecond = round(rows / capacitySeconds);
    log(
      `capacity ${eventsPerSecondStored} events/s, ${rowsPerSecond} outbox rows/s ` +
        `(all published to the broker after ${round((published - capacityStart) / 1000, 2)} s)`,
    );

    log(`latency: ${eventsPerSecond} events/s for ${latencySeconds} s`);
    const latencies = [];
    const sentAt = new Map();
    listener.on('message', (topic, payload) => {
      if (!topic.startsWith(`${topicPrefix}flock/events/v1/`)) return;
      const event = JSON.parse(payload.toString());
      const sent = sentAt.get(event.device_id);
      if (sent !== undefined) latencies.push(performance.now() - sent);
    });
    await listener.subscribeAsync(`${topicPrefix}flock/events/v1/+/#`, { qos: 1 });
    const ticks = eventsPerSecond * latencySeconds;
    const began = performance.now();
    for (let n = 0; n < ticks; n += 1) {
      const due = began + (n * 1000) / eventsPerSecond;
      const wait = due - performance.now();
      if (wait > 0) await delay(wait);
      const deviceId = randomUUID();
      sentAt.set(deviceId, performance.now());
      const at = new Date().toISOString();
      void client.publishAsync(
        inputTopic,
        JSON.stringify({ v: 1, device_id: deviceId, org_id: org.id, fleet_id: fleet.id, at }),
        { qos: 1 },
      );
    }
    const deadline = performance.now() + 30_000;
    while (latencies.length < ticks && performance.now() < deadline) await delay(20);
    const sorted = latencies.sort((a, b) => a - b);
    await listener.endAsync();
    return {
      metric: `device.online messages into stored public events with an outbox row for each of ${subscriptions} subscriptions (PostgreSQL, Mosquitto)`,
      value: rowsPerSecond,
      unit: 'outbox rows/s',
      better: 'higher',
      target: targetRowsPerSecond,
      baseline: {
        what: 'the same burst of QoS 1 messages through Mosquitto to a plain subscriber, messages/s',
        value: baselineRate,
      },
      events_per_second: eventsPerSecondStored,
      latency_ms: {
        what: 'from publishing the internal message to receiving the public event on flock/events/v1',
        offered_events_per_second: eventsPerSecond,
        offered_outbox_rows_per_second: eventsPerSecond * subscriptions,
        received: sorted.length,
        sent: ticks,
        p50: round(percentile(sorted, 0.5) ?? 0, 1),
        p99: round(percentile(sorted, 0.99) ?? 0, 1),
        max: round(sorted.at(-1) ?? 0, 1),
      },
      setup: {
        subscriptions,
        burst_events: burst,
        load_average_at_start: loadAtStart,
        database: 'PostgreSQL (FLOCK_BENCH_DATABASE_URL)',
        broker: mqttUrl,
      },
    };
  } finally {
    await gateway?.stop();
    await client?.endAsync();
    await bus?.close();
    await db?.close();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
