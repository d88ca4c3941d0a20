// Halt latency: from the device report that crosses a rollout's failure
// trigger to (a) the scheduler's decision (its rollout.rolled_back event) and
// (b) the first reverted desired state published for a device. In one process
// on the embedded defaults (PGlite, in-memory KV, embedded broker), as
// `flock-server --target=all` runs them: the real Scheduler and
// DesiredStatePublisher from packages/server/dist, with their production
// timings (a 1 s scheduler pass, woken at once by a failure report).
// `npm run build` first. 20 runs by default (FLOCK_BENCH_RUNS), each a fresh
// canary of 10 % over 200 devices with a 20 % trigger: failures are reported
// one by one until the one that crosses it.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (path) => import(pathToFileURL(join(root, 'packages/server/dist', path)).href);
const protocol = await import(pathToFileURL(join(root, 'packages/protocol/dist/index.js')).href);

const runs = Number(process.env.FLOCK_BENCH_RUNS ?? 20);
const deviceCount = 200;
const trigger = 0.2;
const targetMs = 5_000;

const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function until(check, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await delay(20);
  }
}

export default async function run({ log }) {
  const { openDatabase } = await dist('platform/db/open-database.js');
  const { migrateToLatest } = await dist('platform/db/migrate.js');
  const { MemoryKvStore } = await dist('platform/kv/memory-kv-store.js');
  const { openBus } = await dist('platform/bus/open-bus.js');
  const { SecretBox } = await dist('platform/crypto/secret-box.js');
  const { DesiredStatePublisher } = await dist('platform/desired/desired-state-publisher.js');
  const { Scheduler } = await dist('targets/scheduler/scheduler.js');

  const quiet = pino({ level: 'silent' });
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-bench-halt-'));
  const database = await openDatabase({ dataDir, log: quiet });
  await migrateToLatest(database.db, quiet);
  const kv = new MemoryKvStore();
  const { bus } = await openBus({
    topicPrefix: '',
    host: '127.0.0.1',
    port: 0,
    wsPort: 0,
    log: quiet,
  });
  const publisher = new DesiredStatePublisher({
    db: database.db,
    box: new SecretBox(randomBytes(32)),
    bus,
    kv,
    log: quiet,
    settings: { heartbeatIntervalSeconds: 30, telemetryIntervalSeconds: 60 },
  });
  const scheduler = new Scheduler({ database, kv, bus, log: quiet });
  await publisher.start();
  await scheduler.start();

  const db = database.db;
  const org = await db
    .insertInto('orgs')
    .values({ name: 'bench' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const fleet = await db
    .insertInto('fleets')
    .values({ org_id: org.id, name: 'bench', device_type: 'generic-amd64', architecture: 'amd64' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const release = async (version) =>
    (
      await db
        .insertInto('releases')
        .values({
          org_id: org.id,
          fleet_id: fleet.id,
          version,
          compose: JSON.stringify({ services: {} }),
          content_hash: `bench-${version}`,
          created_by_type: 'bench',
          created_by_id: 'bench',
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const before = await release(1);
  const after = await release(2);
  await db
    .updateTable('fleets')
    .set({ default_release_id: before })
    .where('id', '=', fleet.id)
    .execute();
  const devices = Array.from({ length: deviceCount }, () => randomUUID());
  await db
    .insertInto('devices')
    .values(
      devices.map((id) => ({
        id,
        org_id: org.id,
        fleet_id: fleet.id,
        name: id.slice(0, 8),
        device_type: 'generic-amd64',
        architecture: 'amd64',
        secret_hash: 'unused',
      })),
    )
    .execute();

  const rolledBackAt = new Map();
  const revertedAt = new Map();
  await bus.subscribe(
    protocol.internalTopics.rolloutRolledBack,
    (message) => {
      const event = JSON.parse(message.payload.toString());
      if (!rolledBackAt.has(event.rollout_id))
        rolledBackAt.set(event.rollout_id, performance.now());
    },
    { qos: 1 },
  );
  await bus.subscribe(
    'devices/+/desired',
    (message) => {
      if (message.payload.length === 0) return;
      const state = JSON.parse(message.payload.toString());
      if (
        state.release?.id === before &&
        state.deployment_id !== undefined &&
        !revertedAt.has(state.deployment_id)
      )
        revertedAt.set(state.deployment_id, performance.now());
    },
    { qos: 1 },
  );

  const fail = (deviceId) =>
    bus.publish(
      protocol.internalTopics.deviceEvent,
      JSON.stringify({
        v: 1,
        device_id: deviceId,
        org_id: org.id,
        fleet_id: fleet.id,
        received_at: new Date().toISOString(),
        event: {
          v: 1,
          id: randomUUID(),
          occurred_at: new Date().toISOString(),
          type: 'update.result',
          release_id: after,
          success: false,
          error: 'bench',
          duration_ms: 1,
        },
      }),
      { qos: 1 },
    );

  const decisions = [];
  const published = [];
  for (let n = 0; n < runs; n += 1) {
    const deployment = await db
      .insertInto('deployments')
      .values({
        org_id: org.id,
        fleet_id: fleet.id,
        name: `run ${n}`,
        release_id: after,
        selector: JSON.stringify({}),
        strategy: JSON.stringify({ type: 'canary', percent: 10, min_wait_seconds: 3600 }),
        health: JSON.stringify(protocol.defaultHealth),
        rollback: JSON.stringify({ trigger_failure_rate: trigger, action: 'revert' }),
        created_by_type: 'bench',
        created_by_id: 'bench',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const rolloutId = randomUUID();
    await db
      .insertInto('rollout_intents')
      .values({
        org_id: org.id,
        deployment_id: deployment.id,
        rollout_id: rolloutId,
        action: 'start',
        actor_type: 'bench',
        actor_id: 'bench',
      })
      .execute();
    const canary = await until(async () => {
      const rows = await db
        .selectFrom('rollout_devices')
        .select('device_id')
        .where('rollout_id', '=', rolloutId)
        .where('status', '=', 'targeted')
        .execute();
      return rows.length > 0 ? rows.map((row) => row.device_id) : undefined;
    }, 'the canary');
    const needed = Math.ceil(trigger * canary.length);
    for (const deviceId of canary.slice(0, needed - 1)) await fail(deviceId);
    await until(async () => {
      const row = await db
        .selectFrom('rollouts')
        .select(['failed', 'state'])
        .where('id', '=', rolloutId)
        .executeTakeFirst();
      return row.failed === needed - 1 && row.state === 'running';
    }, 'the failures below the trigger');
    const crossedAt = performance.now();
    await fail(canary[needed - 1]);
    await until(() => rolledBackAt.has(rolloutId) && revertedAt.has(deployment.id), 'the revert');
    decisions.push(rolledBackAt.get(rolloutId) - crossedAt);
    published.push(revertedAt.get(deployment.id) - crossedAt);
    log(
      `run ${n + 1}: canary ${canary.length}, decision ${Math.round(decisions.at(-1))} ms, first reverted desired state ${Math.round(published.at(-1))} ms`,
    );
  }

  await scheduler.stop();
  await publisher.stop();
  await bus.close();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });

  const sortedDecisions = [...decisions].sort((a, b) => a - b);
  const sortedPublished = [...published].sort((a, b) => a - b);
  const round = (value) => Math.round(value);
  return {
    metric: 'halt_latency_p50_ms',
    value: round(percentile(sortedPublished, 0.5)),
    unit: 'ms',
    better: 'lower',
    target: targetMs,
    baseline: {
      what: 'the scheduler pass period, the longest a report could wait without the wake-up on failure reports',
      value: 1_000,
    },
    runs,
    devices: deviceCount,
    canary_percent: 10,
    trigger_failure_rate: trigger,
    backend: 'embedded defaults (PGlite, in-memory KV, embedded broker), one process',
    decision_ms: {
      p50: round(percentile(sortedDecisions, 0.5)),
      max: round(sortedDecisions.at(-1)),
    },
    first_reverted_desired_state_ms: {
      p50: round(percentile(sortedPublished, 0.5)),
      max: round(sortedPublished.at(-1)),
    },
    load_average: loadavg().map((value) => Number(value.toFixed(2))),
  };
}
