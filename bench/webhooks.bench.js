// Webhook fan-out: one `flock-server --target=events-gateway` on PostgreSQL
// and Mosquitto delivers to 100 local webhook receivers (one subscription
// each, every event owed to all of them). `npm run build` first; needs the
// PostgreSQL and broker of the test setup (FLOCK_BENCH_DATABASE_URL,
// FLOCK_BENCH_MQTT_URL, with the test defaults). Events are written as the
// gateway's pipeline writes them (the event, its outbox rows, one
// transaction; then the publish on flock/events/v1), so what is measured is
// delivery: claim, sign, POST, record. Three measurements:
//   baseline: a bare node:http keep-alive client POSTing the same bodies to
//     the same receivers, one request in flight per receiver, as the
//     gateway allows itself per subscription — the ceiling here;
//   capacity: a backlog of events drained as fast as the gateway can,
//     deliveries/s between 10% and 90% delivered;
//   latency: an open-loop 20 events/s (2,000 deliveries/s), p50/p99 from
//     the event's commit to the receiver reading the request.
// The receivers run in a worker thread of this process, the gateway in
// its own process. Medians of three runs (FLOCK_BENCH_RUNS).
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import mqtt from 'mqtt';
import pg from 'pg';
import { createDatabase } from './support/flock-processes.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const serverDist = join(root, 'packages/server/dist');
const env = (name, fallback) => process.env[name]?.trim() || fallback;
const mqttUrl = env('FLOCK_BENCH_MQTT_URL', 'mqtt://127.0.0.1:1883');

const receivers = Number(env('FLOCK_BENCH_RECEIVERS', '100'));
const backlogEvents = Number(env('FLOCK_BENCH_BACKLOG_EVENTS', '200'));
const eventsPerSecond = Number(env('FLOCK_BENCH_EVENTS_PER_SECOND', '20'));
const latencySeconds = Number(env('FLOCK_BENCH_LATENCY_SECONDS', '10'));
const runs = Number(env('FLOCK_BENCH_RUNS', '3'));
const targetRate = 2_000;
const targetP99Ms = 500;

const round = (value, digits = 0) => Number(value.toFixed(digits));
const percentile = (sorted, p) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

// The receivers: plain node:http servers answering 204, reporting what arrived.
const receiverSource = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
let seen = [];
const ports = [];
let listening = 0;
for (let n = 0; n < workerData.count; n += 1) {
  const server = createServer((req, res) => {
    const id = req.headers['webhook-id'];
    req.resume();
    req.on('end', () => {
      // The baseline's requests are not deliveries.
      if (id !== undefined && id !== 'baseline') seen.push(id, Date.now());
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    ports[n] = server.address().port;
    if (++listening === workerData.count) parentPort.postMessage({ ports });
  });
}
setInterval(() => {
  if (seen.length === 0) return;
  parentPort.postMessage({ seen });
  seen = [];
}, 20).unref();
parentPort.on('message', (message) => { if (message === 'exit') process.exit(0); });
`;

async function startReceivers() {
  const worker = new Worker(receiverSource, { eval: true, workerData: { count: receivers } });
  const [{ ports }] = await once(worker, 'message');
  const arrivals = [];
  worker.on('message', (message) => {
    if (message.seen === undefined) return;
    for (let i = 0; i < message.seen.length; i += 2)
      arrivals.push([message.seen[i], message.seen[i + 1]]);
  });
  return {
    urls: ports.map((port) => `http://127.0.0.1:${port}/hook`),
    arrivals,
    async stop() {
      worker.postMessage('exit');
      await once(worker, 'exit');
    },
  };
}

async function startGateway(envOverrides) {
  // FLOCK_BENCH_GATEWAY_NODE_ARGS (e.g. --cpu-prof) profiles the gateway alone.
  const nodeArgs = env('FLOCK_BENCH_GATEWAY_NODE_ARGS', '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...nodeArgs, join(serverDist, 'main.js'), '--target=events-gateway'],
    {
      env: { ...process.env, FLOCK_HTTP_PORT: '0', FLOCK_LOG_LEVEL: 'info', ...envOverrides },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let buffered = '';
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code}`)));
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line);
        if (entry.level >= 40) console.error(`[webhooks] gateway: ${entry.msg}`);
        if (entry.msg === 'flock-server ready') resolve();
      }
    });
  });
  return {
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function envelope(orgId) {
  return {
    id: randomUUID(),
    type: 'device.online',
    version: 1,
    occurred_at: new Date().toISOString(),
    org_id: orgId,
    fleet_id: null,
    device_id: randomUUID(),
    data: {},
  };
}

/** Writes events as the gateway's pipeline does, then announces them on the bus. */
function eventWriter(client, broker, topicPrefix, orgId, committedAt) {
  return async (count) => {
    const events = Array.from({ length: count }, () => envelope(orgId));
    await client.query('begin');
    const { rows } = await client.query(
      `insert into events (id, org_id, type, fleet_id, device_id, occurred_at, payload)
       select (e->>'id')::uuid, (e->>'org_id')::uuid, e->>'type', null, (e->>'device_id')::uuid,
              (e->>'occurred_at')::timestamptz, e
       from jsonb_array_elements($1::jsonb) as e
       returning seq`,
      [JSON.stringify(events)],
    );
    await client.query(
      `insert into webhook_outbox (subscription_id, event_seq)
       select s.id, seq from event_subscriptions s, unnest($1::bigint[]) as seq
       where s.org_id = $2 and s.status = 'active'`,
      [rows.map((row) => row.seq), orgId],
    );
    await client.query('commit');
    const now = Date.now();
    for (const event of events) committedAt.set(event.id, now);
    await Promise.all(
      events.map((event) =>
        broker.publishAsync(
          `${topicPrefix}flock/events/v1/${orgId}/device/online`,
          JSON.stringify(event),
          { qos: 1 },
        ),
      ),
    );
  };
}

async function waitForArrivals(arrivals, count, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (arrivals.length < count && Date.now() < deadline) await delay(20);
  return arrivals.length >= count;
}

/** The bare client: the same bodies to the same receivers, one in flight per receiver. */
async function baseline(urls, perReceiver, body) {
  const agent = new Agent({ keepAlive: true });
  const post = (url) =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'webhook-id': 'baseline',
          },
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const began = performance.now();
  await Promise.all(
    urls.map(async (url) => {
      for (let n = 0; n < perReceiver; n += 1) await post(url);
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  agent.destroy();
  return round((urls.length * perReceiver) / seconds);
}

/** One capacity measurement: a backlog drained, deliveries/s between 10% and 90% delivered. */
async function measureCapacity(write, arrivals, gatewayPid) {
  arrivals.length = 0;
  const cpuBefore = cpuSeconds(gatewayPid);
  const total = backlogEvents * receivers;
  for (let written = 0; written < backlogEvents; written += 50) {
    await write(Math.min(50, backlogEvents - written));
  }
  const marks = {};
  const deadline = Date.now() + 300_000;
  for (const fraction of [0.1, 0.9, 1]) {
    while (arrivals.length < total * fraction) {
      if (Date.now() > deadline)
        throw new Error(`backlog not drained: ${arrivals.length}/${total}`);
      await delay(5);
    }
    marks[fraction] = performance.now();
  }
  return {
    rate: round((0.8 * total) / ((marks[0.9] - marks[0.1]) / 1000)),
    microsPerDelivery: round(((cpuSeconds(gatewayPid) - cpuBefore) * 1e6) / total, 1),
  };
}

/** One latency measurement: an open-loop event rate, commit → arrival per delivery. */
async function measureLatency(write, arrivals, committedAt) {
  arrivals.length = 0;
  committedAt.clear();
  const ticks = eventsPerSecond * latencySeconds;
  // Paced against the clock so that a slow write does not lower the rate.
  const began = performance.now();
  for (let tick = 0; tick < ticks; tick += 1) {
    const wait = began + (tick * 1000) / eventsPerSecond - performance.now();
    if (wait > 0) await delay(wait);
    await write(1);
  }
  const offeredSeconds = (performance.now() - began) / 1000;
  const expected = ticks * receivers;
  const complete = await waitForArrivals(arrivals, expected, 60_000);
  const latencies = arrivals
    .map(([id, at]) => at - committedAt.get(id))
    .filter((ms) => Number.isFinite(ms))
    .sort((a, b) => a - b);
  // Each event goes once to each receiver: more arrivals of an id are repeats.
  const perEvent = new Map();
  for (const [id] of arrivals) perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
  const repeats = [...perEvent.values()].reduce((sum, n) => sum + Math.max(0, n - receivers), 0);
  return {
    offered: round(expected / offeredSeconds),
    delivered: latencies.length,
    repeats,
    complete,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? null,
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export default async function run({ log }) {
  const receiverSet = await startReceivers();
  const database = await createDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-bench-webhooks-'));
  const secretKey = randomBytes(32);
  const topicPrefix = `bench-webhooks-${randomBytes(4).toString('hex')}/`;
  const broker = await mqtt.connectAsync(mqttUrl, { clientId: `bench-${randomUUID()}` });
  const client = new pg.Client({ connectionString: database.url });
  let gateway;
  try {
    const loadAtStart = round(loadavg()[0], 2);
    gateway = await startGateway({
      DATABASE_URL: database.url,
      MQTT_URL: mqttUrl,
      FLOCK_MQTT_TOPIC_PREFIX: topicPrefix,
      FLOCK_DATA_DIR: dataDir,
      FLOCK_SECRET_KEY: secretKey.toString('base64'),
      FLOCK_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });

    // Subscriptions, sealed with the gateway's key, as the api stores them.
    const { SecretBox } = await import(
      pathToFileURL(join(serverDist, 'platform/crypto/secret-box.js')).href
    );
    const { generateSigningSecret, sealSigningSecret } = await import(
      pathToFileURL(join(serverDist, 'platform/webhooks/signing-secret.js')).href
    );
    const box = new SecretBox(secretKey);
    await client.connect();
    const org = await client.query(`insert into orgs (name) values ('bench') returning id`);
    const orgId = org.rows[0].id;
    for (const url of receiverSet.urls) {
      await client.query(
        `insert into event_subscriptions (org_id, url, event_types, secret_ciphertext)
         values ($1, $2, '{*}', $3)`,
        [orgId, url, sealSigningSecret(box, generateSigningSecret())],
      );
    }
    const committedAt = new Map();
    const write = eventWriter(client, broker, topicPrefix, orgId, committedAt);
    const body = JSON.stringify(envelope(orgId));
    const perReceiver = Math.round((backlogEvents * receivers) / receiverSet.urls.length);

    const results = [];
    for (let n = 1; n <= runs; n += 1) {
      log(`run ${n}/${runs}: baseline, a bare node:http client`);
      const baselineRate = await baseline(receiverSet.urls, perReceiver, body);
      log(`run ${n}/${runs}: capacity, ${backlogEvents} events × ${receivers} subscriptions`);
      const capacity = await measureCapacity(write, receiverSet.arrivals, gateway.pid);
      log(`run ${n}/${runs}: latency, ${eventsPerSecond} events/s for ${latencySeconds} s`);
      const latency = await measureLatency(write, receiverSet.arrivals, committedAt);
      const result = {
        baseline_post_s: baselineRate,
        gateway_deliveries_s: capacity.rate,
        gateway_cpu_us_per_delivery: capacity.microsPerDelivery,
        offered_deliveries_s: latency.offered,
        delivered_at_offered_rate: latency.delivered,
        all_delivered_at_offered_rate: latency.complete,
        repeated_deliveries: latency.repeats,
        p50_latency_ms: latency.p50,
        p99_latency_ms: latency.p99,
        max_latency_ms: latency.max,
      };
      log(JSON.stringify(result));
      results.push(result);
    }
    const of = (key) => median(results.map((result) => result[key]));

    return {
      metric: `fan-out webhook deliveries per second from one events-gateway to ${receivers} local receivers (PostgreSQL outbox), median of ${runs} runs`,
      value: of('gateway_deliveries_s'),
      unit: 'deliveries/s',
      better: 'higher',
      target: targetRate,
      baseline: {
        what: 'bare node:http keep-alive client POSTing the same bodies to the same receivers, one in flight per receiver',
        value: of('baseline_post_s'),
      },
      p99_latency_ms: {
        what: 'from the event commit to the receiver reading the request, at the offered rate',
        at_offered_rate: of('p99_latency_ms'),
        target: targetP99Ms,
      },
      p50_latency_ms_at_offered_rate: of('p50_latency_ms'),
      offered_deliveries_per_second: of('offered_deliveries_s'),
      all_delivered_at_offered_rate: results.every(
        (result) => result.all_delivered_at_offered_rate,
      ),
      repeated_deliveries_at_offered_rate: results.reduce(
        (sum, result) => sum + result.repeated_deliveries,
        0,
      ),
      gateway_cpu: {
        what: 'CPU of the gateway process per delivery while draining the backlog',
        micros_per_delivery: of('gateway_cpu_us_per_delivery'),
      },
      setup: {
        receivers,
        subscriptions: receivers,
        runs,
        backlog_events: backlogEvents,
        backlog_deliveries: backlogEvents * receivers,
        events_per_second: eventsPerSecond,
        latency_seconds: latencySeconds,
        load_average_at_start: loadAtStart,
        database: 'PostgreSQL (FLOCK_BENCH_DATABASE_URL)',
        broker: mqttUrl,
      },
      runs: results,
    };
  } finally {
    await gateway?.stop();
    await client.end().catch(() => undefined);
    await broker.endAsync();
    await receiverSet.stop();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
