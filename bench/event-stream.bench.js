// The WebSocket event stream's live fan-out: one api process (the built
// binary, `npm run build` first) on PostgreSQL and Mosquitto, 100 clients
// streaming one org. Events are published on flock/events/v1 as the events
// gateway publishes them (the live path reads nothing from the database);
// each envelope's occurred_at is its publish time. Uses
// FLOCK_BENCH_DATABASE_URL and FLOCK_BENCH_MQTT_URL (the test defaults
// otherwise). Measured:
//   capacity: a burst of events, messages delivered per second over all
//     clients until every client has every event;
//   latency: an open-loop rate, p50/p99 from publish to arrival at a client;
//   baseline: the same burst from Mosquitto to 100 plain MQTT subscribers.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { WebSocket } from 'ws';
import { createDatabase } from './support/flock-processes.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = (name, fallback) => process.env[name]?.trim() || fallback;
const mqttUrl = env('FLOCK_BENCH_MQTT_URL', 'mqtt://127.0.0.1:1883');
const clients = Number(env('FLOCK_BENCH_CLIENTS', '100'));
const burst = Number(env('FLOCK_BENCH_BURST', '1000'));
const eventsPerSecond = Number(env('FLOCK_BENCH_EVENTS_PER_SECOND', '20'));
const latencySeconds = Number(env('FLOCK_BENCH_LATENCY_SECONDS', '10'));
// The same bar as the webhooks: 2,000 deliveries/s, p99 under 500 ms.
const target = 2_000;
const targetP99Ms = 500;

const round = (value, digits = 0) => Number(value.toFixed(digits));
const percentile = (sorted, p) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** Starts the api target; resolves with its URL once it is ready. */
async function startApi(environment) {
  const child = spawn(
    process.execPath,
    [join(root, 'packages/server/dist/main.js'), '--target=api'],
    {
      env: { ...process.env, FLOCK_HTTP_PORT: '0', FLOCK_LOG_LEVEL: 'info', ...environment },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let buffered = '';
  let url;
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`api exited with ${code}`)));
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        let entry;
        try {
          entry = JSON.parse(line);
        } catch {
          continue;
        }
        if (typeof entry.url === 'string' && entry.msg.startsWith('HTTP listening'))
          url = entry.url;
        if (entry.msg === 'flock-server ready') resolve();
      }
    });
  });
  return { child, url };
}

function envelope(orgId) {
  return JSON.stringify({
    id: randomUUID(),
    type: 'device.online',
    version: 1,
    occurred_at: new Date().toISOString(),
    org_id: orgId,
    fleet_id: null,
    device_id: null,
    data: {},
  });
}

export default async function run({ log }) {
  const database = await createDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-bench-stream-'));
  const topicPrefix = `bench-stream-${randomBytes(4).toString('hex')}/`;
  const publisher = await mqtt.connectAsync(mqttUrl, { clientId: `bench-pub-${randomUUID()}` });
  let api;
  const sockets = [];
  const listeners = [];
  try {
    api = await startApi({
      DATABASE_URL: database.url,
      MQTT_URL: mqttUrl,
      FLOCK_MQTT_TOPIC_PREFIX: topicPrefix,
      FLOCK_DATA_DIR: dataDir,
    });
    const token = (await readFile(join(dataDir, 'bootstrap-owner-key'), 'utf8')).trim();
    const me = await (
      await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } })
    ).json();
    const orgId = me.orgs[0].id;
    const topic = `${topicPrefix}flock/events/v1/${orgId}/device/online`;

    // Baseline: the broker alone, to as many plain subscribers.
    let baselineReceived = 0;
    for (let n = 0; n < clients; n += 1) {
      const listener = await mqtt.connectAsync(mqttUrl, { clientId: `bench-sub-${randomUUID()}` });
      listener.on('message', () => (baselineReceived += 1));
      await listener.subscribeAsync(`${topicPrefix}bench/baseline`, { qos: 0 });
      listeners.push(listener);
    }
    log(`baseline: ${burst} messages to ${clients} MQTT subscribers`);
    const baselineStart = performance.now();
    for (let i = 0; i < burst; i += 1)
      publisher.publish(`${topicPrefix}bench/baseline`, envelope(orgId), { qos: 0 });
    const baselineDeadline = performance.now() + 60_000;
    while (baselineReceived < burst * clients && performance.now() < baselineDeadline)
      await delay(5);
    const baselineRate = round((burst * clients) / ((performance.now() - baselineStart) / 1000));
    log(`baseline ${baselineRate} messages/s`);
    await Promise.all(listeners.splice(0).map((listener) => listener.endAsync()));

    let received = 0;
    let latencies;
    const url = `${api.url.replace('http', 'ws')}/v1/orgs/${orgId}/events/stream`;
    for (let n = 0; n < clients; n += 1) {
      const socket = new WebSocket(url, ['flock.events.v1'], {
        headers: { authorization: `Bearer ${token}` },
      });
      socket.on('message', (data) => {
        received += 1;
        if (latencies !== undefined) {
          const sentAt = Date.parse(JSON.parse(data.toString()).occurred_at);
          latencies.push(Date.now() - sentAt);
        }
      });
      await once(socket, 'open');
      sockets.push(socket);
    }
    // The api's one subscription for the org is in place once an event reaches every client.
    while (received < clients) {
      publisher.publish(topic, envelope(orgId), { qos: 1 });
      await delay(100);
      if (received >= clients) break;
    }
    await delay(500);

    log(`capacity: ${burst} events to ${clients} streams`);
    received = 0;
    const loadAverage = loadavg()[0];
    const start = performance.now();
    for (let i = 0; i < burst; i += 1) publisher.publish(topic, envelope(orgId), { qos: 1 });
    const burstDeadline = performance.now() + 120_000;
    while (received < burst * clients && performance.now() < burstDeadline) await delay(5);
    if (received < burst * clients)
      throw new Error(`only ${received} of ${burst * clients} arrived`);
    const seconds = (performance.now() - start) / 1000;
    const rate = round((burst * clients) / seconds);
    log(`${rate} messages/s`);

    log(`latency: ${eventsPerSecond} events/s for ${latencySeconds} s`);
    received = 0;
    latencies = [];
    const total = eventsPerSecond * latencySeconds;
    const began = performance.now();
    for (let i = 0; i < total; i += 1) {
      const due = began + (i * 1000) / eventsPerSecond;
      const wait = due - performance.now();
      if (wait > 0) await delay(wait);
      publisher.publish(topic, envelope(orgId), { qos: 1 });
    }
    const deadline = performance.now() + 30_000;
    while (received < total * clients && performance.now() < deadline) await delay(10);
    const sorted = latencies.sort((a, b) => a - b);
    log(`p50 ${percentile(sorted, 0.5)} ms, p99 ${percentile(sorted, 0.99)} ms`);

    return {
      metric: `events delivered per second over ${clients} WebSocket streams of one org from one api process (Mosquitto)`,
      value: rate,
      unit: 'messages/s',
      better: 'higher',
      target,
      baseline: {
        what: `the same burst from Mosquitto to ${clients} plain MQTT subscribers (QoS 0)`,
        value: baselineRate,
      },
      p99_latency_ms: { at_offered_rate: percentile(sorted, 0.99), target: targetP99Ms },
      p50_latency_ms_at_offered_rate: percentile(sorted, 0.5),
      max_latency_ms_at_offered_rate: sorted.at(-1) ?? null,
      delivered_at_offered_rate: latencies.length,
      all_delivered_at_offered_rate: latencies.length === total * clients,
      setup: {
        clients,
        burst_events: burst,
        events_per_second: eventsPerSecond,
        latency_seconds: latencySeconds,
        load_average_at_start: round(loadAverage, 2),
        database: 'PostgreSQL (FLOCK_BENCH_DATABASE_URL)',
        broker: mqttUrl,
        clients_and_publisher: 'in the benchmark process, beside the api process',
      },
    };
  } finally {
    for (const socket of sockets) socket.terminate();
    await Promise.all(listeners.map((listener) => listener.endAsync()));
    await publisher.endAsync();
    if (api !== undefined) {
      api.child.kill('SIGTERM');
      await once(api.child, 'exit');
    }
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
