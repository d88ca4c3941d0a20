// Planning one rollout stage for a large fleet on PostgreSQL: the scheduler
// handling the start intent of an `immediate` deployment (one stage of every
// device) — evaluate the selector, skip rules and cohort placement in the
// database and write a rollout_devices row per device, already targeted, in
// one statement (docs/decisions/0507-rollout-planning-in-sql.md), then count
// and audit — timed end to end. Beside it, in the same run: the plan
// evaluated alone without writing (the reading any planner does), and the
// previous planner's path (the fleet read into Node and planned there, before
// it wrote anything) as the baseline. Then the desired-state publisher
// computing and publishing (retained, embedded broker) the new desired state
// of a sample of the targeted devices, to show the rate at which the reached
// devices learn of it.
// `npm run build` first; needs the test PostgreSQL (FLOCK_BENCH_DATABASE_URL,
// default postgres://postgres@127.0.0.1:5432/test). FLOCK_BENCH_PLAN_DEVICES
// sets the fleet size (default 1,000,000).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { pino } from 'pino';
import { createDatabase } from './support/flock-processes.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (path) => import(pathToFileURL(join(root, 'packages/server/dist', path)).href);
const env = (name, fallback) => process.env[name]?.trim() || fallback;
const deviceCount = Number(env('FLOCK_BENCH_PLAN_DEVICES', '1000000'));
const desiredSample = Math.min(deviceCount, 10_000);
const targetMs = 2_000;

const timed = async (work) => {
  const began = performance.now();
  const result = await work();
  return { result, ms: Math.round(performance.now() - began) };
};

export default async function run({ log }) {
  const { openDatabase } = await dist('platform/db/open-database.js');
  const { migrateToLatest } = await dist('platform/db/migrate.js');
  const { MemoryKvStore } = await dist('platform/kv/memory-kv-store.js');
  const { openBus } = await dist('platform/bus/open-bus.js');
  const { SecretBox } = await dist('platform/crypto/secret-box.js');
  const { publishPages } = await dist('platform/desired/publish-pages.js');
  const { computeDesiredStates } = await dist('platform/desired/compute-desired-state.js');
  const { fleetPlanDevices } = await dist('platform/rollouts/fleet-plan-devices.js');
  const { planRolloutDevices } = await dist('platform/rollouts/plan-rollout-devices.js');
  const { deploymentPlanOf } = await dist('platform/rollouts/deployment-plan-of.js');
  const { planQuery } = await dist('platform/rollouts/plan-query.js');
  const { Scheduler } = await dist('targets/scheduler/scheduler.js');

  const quiet = pino({ level: 'silent' });
  const pgDatabase = await createDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-bench-plan-'));
  const database = await openDatabase({ url: pgDatabase.url, dataDir, log: quiet });
  const { bus } = await openBus({
    topicPrefix: '',
    host: '127.0.0.1',
    port: 0,
    wsPort: 0,
    log: quiet,
  });
  try {
    await migrateToLatest(database.db, quiet);
    const db = database.db;
    const org = await db
      .insertInto('orgs')
      .values({ name: 'bench' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const fleet = await db
      .insertInto('fleets')
      .values({
        org_id: org.id,
        name: 'bench',
        device_type: 'generic-amd64',
        architecture: 'amd64',
      })
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
            compose: JSON.stringify({
              services: { web: { image: `web@sha256:${String(version).repeat(64)}` } },
            }),
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
    const seeded = await timed(async () => {
      for (let from = 1; from <= deviceCount; from += 100_000) {
        const to = Math.min(deviceCount, from + 99_999);
        await sql`
          insert into devices (id, org_id, fleet_id, name, device_type, architecture, secret_hash,
                               running_release_id, labels)
          select gen_random_uuid(), ${org.id}, ${fleet.id}, 'd' || g, 'generic-amd64', 'amd64', 'x',
                 ${before}, jsonb_build_object('site', 'site-' || (g % 10))
          from generate_series(${from}::int, ${to}::int) g`.execute(db);
      }
      await sql`analyze devices`.execute(db);
    });
    log(`${deviceCount} devices inserted in ${seeded.ms} ms`);

    const deployment = await db
      .insertInto('deployments')
      .values({
        org_id: org.id,
        fleet_id: fleet.id,
        name: 'everyone',
        release_id: after,
        selector: JSON.stringify({}),
        strategy: JSON.stringify({ type: 'immediate' }),
        health: JSON.stringify({ evaluation_window_seconds: 600, min_update_success_rate: 0.95 }),
        rollback: JSON.stringify({ trigger_failure_rate: 0.2, action: 'halt' }),
        created_by_type: 'bench',
        created_by_id: 'bench',
      })
      .returningAll()
      .executeTakeFirstOrThrow();

    // The parts alone, before the real thing.
    const plan = deploymentPlanOf(deployment);
    const evaluated = await timed(
      async () =>
        (
          await sql`select status, count(*) from (${planQuery(fleet.id, plan)}) as planned
            group by status`.execute(db)
        ).rows,
    );
    log(`plan evaluated in the database without writing: ${evaluated.ms} ms`);
    const previous = await timed(async () =>
      planRolloutDevices(await fleetPlanDevices(db, fleet.id), plan),
    );
    log(`previous path, fleet read into Node and planned there: ${previous.ms} ms`);

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
    const scheduler = new Scheduler({ database, kv: new MemoryKvStore(), bus, log: quiet });
    if (!(await scheduler.leadership.tryLead())) throw new Error('the bench scheduler cannot lead');
    const stage = await timed(() => scheduler.engine.processIntents());
    const rollout = await db
      .selectFrom('rollouts')
      .selectAll()
      .where('id', '=', rolloutId)
      .executeTakeFirstOrThrow();
    log(
      `planned and targeted stage 0 in ${stage.ms} ms: ${rollout.targeted} targeted, state ${rollout.state}`,
    );
    await scheduler.leadership.resign();

    const sample = (
      await db
        .selectFrom('rollout_devices')
        .select('device_id')
        .where('rollout_id', '=', rolloutId)
        .limit(desiredSample)
        .execute()
    ).map((row) => row.device_id);
    const options = {
      db,
      bus,
      box: new SecretBox(randomBytes(32)),
      settings: { heartbeatIntervalSeconds: 30, telemetryIntervalSeconds: 60 },
    };
    async function* pages() {
      for (let i = 0; i < sample.length; i += 5_000) yield sample.slice(i, i + 5_000);
    }
    const published = await timed(() => publishPages(options, pages()));
    // The broker's share: the same number of retained QoS 1 messages of the
    // same size, published alone with as many in flight.
    const [content] = (await computeDesiredStates(options, sample.slice(0, 1))).values();
    const message = JSON.stringify({ v: 1, revision: 1, ...content });
    const brokerAlone = await timed(async () => {
      for (let i = 0; i < sample.length; i += 2_000)
        await Promise.all(
          sample
            .slice(i, i + 2_000)
            .map((id) => bus.publish(`bench/${id}/desired`, message, { qos: 1, retain: true })),
        );
    });
    const perSecond = Math.round((published.result * 1000) / Math.max(1, published.ms));
    log(
      `published ${published.result} desired states in ${published.ms} ms (${perSecond}/s); the broker alone ${brokerAlone.ms} ms`,
    );

    return {
      metric: 'plan_stage_ms',
      value: stage.ms,
      unit: 'ms',
      better: 'lower',
      target: targetMs,
      baseline: {
        what: 'the previous planner before any write: the fleet read into Node (fleetPlanDevices) and planned there (planRolloutDevices)',
        value: previous.ms,
      },
      devices: deviceCount,
      backend: 'PostgreSQL 15 (local), scheduler code in this process',
      targeted: rollout.targeted,
      parts_ms: {
        plan_evaluated_without_writing: evaluated.ms,
        whole_start_intent: stage.ms,
        writes_and_rest: Math.max(0, stage.ms - evaluated.ms),
      },
      desired_states: {
        sample: published.result,
        ms: published.ms,
        per_second: perSecond,
        extrapolated_for_fleet_s: Math.round(deviceCount / Math.max(1, perSecond)),
        broker_alone_ms: brokerAlone.ms,
      },
      load_average: loadavg().map((value) => Number(value.toFixed(2))),
    };
  } finally {
    await bus.close();
    await database.close();
    await pgDatabase.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
