// Device QoS 1 throughput through the embedded broker when a device's PUBACK
// waits for the group member to store the message (decision 0320), against
// the same broker acknowledging at once, in the same run. One process: the
// real embedded broker and bus from packages/server/dist; 50 publishers over
// TCP, each with 20 QoS 1 heartbeats in flight; one shared group of 4 members
// whose handler stands in for the ingester's state batcher: messages wait for
// a flush every 5 ms (its maxDelayMs) and resolve together. Publishers
// admitted as devices get the acknowledgement after the flush; publishers
// admitted as Flock processes (not held, as every device was before) get it
// at once. Three rounds of each, alternating; medians. `npm run build` first.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { pino } from 'pino';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (path) => import(pathToFileURL(join(root, 'packages/server/dist', path)).href);

const publishers = 50;
const window = 20;
const perPublisher = 2_000;
const flushMs = 5;
const rounds = 3;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** TCP clients named `dev-…` are devices; `svc-…` ones are Flock processes. */
const access = {
  authenticate: async ({ clientId, inProcess }) =>
    inProcess || clientId.startsWith('svc-')
      ? { kind: 'service' }
      : { kind: 'device', deviceId: clientId, expiresAt: new Date(Date.now() + 3600_000) },
  registeredDevices: async (ids) => new Set(ids),
};

/** Resolves every held message together every `flushMs`, as a batch write would. */
function batchingStore() {
  let waiting = [];
  const timer = setInterval(() => {
    const batch = waiting;
    waiting = [];
    for (const resolve of batch) resolve();
  }, flushMs);
  return {
    handler: () => new Promise((resolve) => waiting.push(resolve)),
    stop: () => clearInterval(timer),
  };
}

async function round(url, kind) {
  const clients = await Promise.all(
    Array.from({ length: publishers }, () =>
      mqtt.connectAsync(url, {
        clientId: `${kind}-${randomBytes(5).toString('hex')}`,
        protocolVersion: 4,
        reconnectPeriod: 0,
      }),
    ),
  );
  const began = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      const topic = `devices/${client.options.clientId}/state`;
      const payload = JSON.stringify({ v: 1, sent_at: new Date().toISOString() });
      let sent = 0;
      const lane = async () => {
        while (sent < perPublisher) {
          sent += 1;
          await client.publishAsync(topic, payload, { qos: 1 });
        }
      };
      await Promise.all(Array.from({ length: window }, lane));
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  await Promise.all(clients.map((client) => client.endAsync()));
  return (publishers * perPublisher) / seconds;
}

export default async function run({ log }) {
  const { openBus } = await dist('platform/bus/open-bus.js');
  const opened = await openBus({
    topicPrefix: '',
    host: '127.0.0.1',
    port: 0,
    wsPort: 0,
    log: pino({ level: 'silent' }),
    access,
  });
  const store = batchingStore();
  await opened.bus.subscribe('devices/+/state', store.handler, {
    qos: 1,
    group: 'ingesters-state',
    members: 4,
  });
  const url = opened.listeners[0];
  const held = [];
  const immediate = [];
  try {
    for (let r = 0; r < rounds; r += 1) {
      immediate.push(await round(url, 'svc'));
      held.push(await round(url, 'dev'));
      log(
        `round ${r + 1}: acknowledged after the store ${Math.round(held.at(-1))} msg/s, ` +
          `at once ${Math.round(immediate.at(-1))} msg/s; load ${loadavg()[0].toFixed(2)}`,
      );
    }
  } finally {
    store.stop();
    await opened.bus.close();
  }
  const value = Math.round(median(held));
  const baseline = Math.round(median(immediate));
  return {
    metric: 'device_qos1_msgs_per_second_acknowledged_after_store',
    value,
    unit: 'msg/s',
    better: 'higher',
    target: null,
    baseline: {
      what: 'the same publishers admitted as Flock processes, acknowledged at once (before 0320 every device was), same run',
      value: baseline,
    },
    ratio: Number((value / baseline).toFixed(3)),
    rounds: { held: held.map(Math.round), immediate: immediate.map(Math.round) },
    publishers,
    in_flight_per_publisher: window,
    messages_per_round: publishers * perPublisher,
    flush_ms: flushMs,
    load_average: loadavg().map((l) => Number(l.toFixed(2))),
  };
}
