// One rollout-convergence bench: `flock-server` as three processes (api,
// ingester — which takes the desired-state publisher's lease, being started
// first — and scheduler) on PostgreSQL, Redis and Mosquitto, and
// `flockd simulate` with N devices registered through the API. Then several
// rollouts of a new release each, timed from the start intent to every
// device reporting the release and to the scheduler completing the rollout,
// with where the time went; then the broker-only baseline.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import { brokerBaseline } from './broker-baseline.js';
import { brokerDropWarnings } from './broker-log.js';
import { ConvergeObserver } from './converge-observer.js';
import { seedDevices } from './seed-devices.js';
import { devicesPerSimulator, startSimulatedFleet } from './simulated-fleet.js';
import { Redis } from 'ioredis';
import { convergeTimeline } from './converge-timeline.js';
import {
  cpuSeconds,
  createDatabase,
  ingesterCounters,
  kvUrl,
  mqttUrl,
  openFiles,
  pidsNamed,
  rssMiB,
  startTarget,
} from './flock-processes.js';

const round = (value) => Math.round(value);
// A paused rollout has not ended, but in a bench of healthy devices it never resumes by itself.
const endings = new Set([
  'rollout.completed',
  'rollout.failed',
  'rollout.rolled_back',
  'rollout.paused',
]);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const loads = () => loadavg().map((value) => Number(value.toFixed(2)));

// Ctrl-C or a kill ends the current wait, so the bench still stops what it started and drops its data.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => (interrupted = true));

async function until(check, what, timeoutMs, log) {
  const deadline = Date.now() + timeoutMs;
  let lastLog = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    const describe = () => (typeof what === 'function' ? what() : what);
    if (interrupted) throw new Error(`interrupted while waiting for ${describe()}`);
    if (Date.now() > deadline)
      throw new Error(`${describe()} did not happen within ${timeoutMs} ms`);
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`still waiting for ${describe()}`);
    }
    await delay(50);
  }
}

function restClient(baseUrl, token) {
  return async (method, path, body) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text === '' ? undefined : JSON.parse(text);
  };
}

/** CPU seconds of each pid of every process that takes part, to difference around a rollout. */
function cpuSnapshot(pids) {
  const snapshot = { at: performance.now(), groups: {} };
  for (const [name, list] of Object.entries(pids()))
    snapshot.groups[name] = new Map(list.map((pid) => [pid, cpuSeconds(pid)]));
  return snapshot;
}

/** CPU used per group; a pid that started or ended in between is left out. */
function cpuBetween(before, after) {
  const seconds = (after.at - before.at) / 1000;
  const used = {};
  for (const [name, pids] of Object.entries(before.groups)) {
    let cpu = 0;
    for (const [pid, value] of pids) {
      const later = after.groups[name].get(pid);
      if (later !== undefined && later >= value) cpu += later - value;
    }
    used[name] = { cpu_s: Number(cpu.toFixed(2)), cores: Number((cpu / seconds).toFixed(2)) };
  }
  return used;
}

/** Deletes every key the bench's servers wrote to the shared Redis. */
async function clearKv(prefix) {
  const redis = new Redis(kvUrl);
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 }))
    if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}

/** Clears the retained desired state of the bench's devices, so the shared broker keeps none. */
async function clearRetained(deviceIds) {
  const client = mqtt.connect(mqttUrl, { protocolVersion: 4, reconnectPeriod: 0 });
  await once(client, 'connect');
  const ids = [...deviceIds];
  for (let i = 0; i < ids.length; i += 500)
    await Promise.all(
      ids
        .slice(i, i + 500)
        .map((id) => client.publishAsync(`devices/${id}/desired`, '', { qos: 1, retain: true })),
    );
  await client.endAsync();
}

/**
 * Starts the servers and N simulated devices once, then runs every plan's
 * rollouts on that fleet in turn (`plans`: [{ name, strategy, runs }]).
 * Resolves with, per plan, each run and the medians; the baseline; CPU,
 * memory, open files and load.
 */
export async function runConvergeBench({ devices, plans, updateMs, log }) {
  const database = await createDatabase();
  const serverDir = await mkdtemp(join(tmpdir(), 'flock-bench-converge-server-'));
  const simulatorDir = await mkdtemp(join(tmpdir(), 'flock-bench-converge-devices-'));
  const kvPrefix = `bench-converge-${randomBytes(4).toString('hex')}:`;
  const serverEnv = {
    DATABASE_URL: database.url,
    KV_URL: kvUrl,
    FLOCK_KV_KEY_PREFIX: kvPrefix,
    MQTT_URL: mqttUrl,
    FLOCK_DATA_DIR: serverDir,
    FLOCK_RATE_LIMIT_REGISTER_PER_MINUTE: '0',
    FLOCK_RATE_LIMIT_REGISTER_PER_KEY_PER_MINUTE: '0',
    FLOCK_RATE_LIMIT_DEVICE_TOKEN_PER_MINUTE: '0',
    // Telemetry plays no part in convergence; every agent still sends one sample at start.
    FLOCK_TELEMETRY_INTERVAL_SECONDS: '3600',
  };
  const targets = [];
  const observer = new ConvergeObserver();
  let fleet;
  let deviceIds = [];
  const loadAtStart = loads();
  try {
    for (const target of ['api', 'ingester', 'scheduler'])
      targets.push(await startTarget(target, serverEnv, log));
    const [api, ingester, scheduler] = targets;
    const ownerKey = (await readFile(join(serverDir, 'bootstrap-owner-key'), 'utf8')).trim();
    const owner = restClient(api.url, ownerKey);
    const orgId = (await owner('GET', '/v1/me')).api_key.org_id;
    const { key } = await owner('POST', `/v1/orgs/${orgId}/api-keys`, {
      name: 'converge bench',
      role: 'admin',
    });
    const call = restClient(api.url, key);
    const fleetId = (
      await call('POST', `/v1/orgs/${orgId}/fleets`, {
        name: 'converge',
        device_type: 'generic-amd64',
        architecture: 'amd64',
      })
    ).id;
    const { provisioning_key: provisioningKey } = await call(
      'POST',
      `/v1/fleets/${fleetId}/provisioning-keys`,
      { name: 'simulator' },
    );
    let releases = 0;
    const createRelease = async () => {
      const seed = (releases++).toString(16);
      return (
        await call('POST', `/v1/fleets/${fleetId}/releases`, {
          compose: {
            services: {
              web: { image: `registry.example/web@sha256:${seed.repeat(64)}` },
              worker: { image: `registry.example/worker@sha256:${seed.repeat(64)}` },
            },
          },
        })
      ).id;
    };
    const initial = await createRelease();
    const seedBegan = performance.now();
    deviceIds = await seedDevices({
      databaseUrl: database.url,
      serverDir,
      simulatorDir,
      orgId,
      fleetId,
      count: devices,
    });
    const seedMs = round(performance.now() - seedBegan);
    log(`${devices} devices and their credentials seeded in ${seedMs} ms`);
    await observer.connect(mqttUrl);
    observer.watchRelease(initial);
    // Set after seeding, so the publisher sends every seeded device its first desired state.
    await call('PUT', `/v1/fleets/${fleetId}/default-release`, { release_id: initial });

    const startupBegan = performance.now();
    fleet = startSimulatedFleet({
      devices,
      dir: simulatorDir,
      apiUrl: api.url,
      mqttUrl,
      provisioningKey,
      updateMs,
    });
    await until(
      () => observer.runningCount(initial) === devices,
      () => `${devices} devices running the first release (${observer.runningCount(initial)} now)`,
      3_600_000,
      log,
    );
    const startupMs = round(performance.now() - startupBegan);
    log(`${devices} simulated devices connected and running the first release in ${startupMs} ms`);
    const files = {
      simulators: fleet.pids().map((pid) => openFiles(pid)),
      mosquitto: pidsNamed('mosquitto').map((pid) => openFiles(pid)),
    };
    log(`open files: ${JSON.stringify(files)}`);
    const rssAfterStartup = fleet.pids().reduce((sum, pid) => sum + rssMiB(pid), 0);

    const pids = () => ({
      scheduler: [scheduler.pid],
      ingester_and_desired_publisher: [ingester.pid],
      api: [api.pid],
      simulators: fleet.pids(),
      mosquitto: pidsNamed('mosquitto'),
      redis: pidsNamed('redis-server'),
      postgres_all_databases: pidsNamed('postgres'),
    });
    const results = {};
    for (const plan of plans) {
      const runs = [];
      for (let run = 0; run < plan.runs; run += 1) {
        const name = `${plan.name} ${run + 1}`;
        const release = await createRelease();
        const marks = observer.watchRelease(release);
        const deployment = await call('POST', `/v1/fleets/${fleetId}/deployments`, {
          name,
          release_id: release,
          strategy: plan.strategy,
        });
        const cpuBefore = cpuSnapshot(pids);
        const ingestedBefore = await ingesterCounters(ingester.url);
        const wallBegan = Date.now();
        const load = loads();
        const began = performance.now();
        const { rollout_id: rolloutId } = await call(
          'POST',
          `/v1/deployments/${deployment.id}/start`,
        );
        const intentAt = performance.now();
        const watched = observer.rollout(rolloutId);
        const ended = await until(
          () => watched.events.find((event) => endings.has(event.type)),
          () => `${name} to end (${watched.counted.size} counted)`,
          3_600_000,
          log,
        );
        const cpuAfter = cpuSnapshot(pids);
        const ingestedAfter = await ingesterCounters(ingester.url);
        if (ended.type !== 'rollout.completed') throw new Error(`${name} ended ${ended.type}`);
        const rollout = await call('GET', `/v1/rollouts/${rolloutId}`);
        // A device's update.result may be counted before its state report went by.
        await until(
          () => marks.reported.size === devices,
          () => `every device's report in ${name}`,
          60_000,
          log,
        ).catch(() => undefined);
        const timeline = convergeTimeline({ began, intentAt, rollout, marks, watched, devices });
        runs.push({
          run: run + 1,
          ...timeline,
          counts: rollout.counts,
          cpu: cpuBetween(cpuBefore, cpuAfter),
          ingester_counters: Object.fromEntries(
            Object.entries(ingestedAfter).map(([k, v]) => [k, v - (ingestedBefore[k] ?? 0)]),
          ),
          broker_drop_warnings: brokerDropWarnings(wallBegan, Date.now()),
          simulators_rss_mib: fleet.pids().reduce((sum, pid) => sum + rssMiB(pid), 0),
          load_average_before: load,
        });
        log(
          `${name}: converged ${timeline.converged_ms} ms, completed ${timeline.completed_ms} ms; ${JSON.stringify(timeline.critical_path_ms)}`,
        );
      }
      results[plan.name] = {
        strategy: plan.strategy,
        median: {
          converged_ms: median(runs.map((r) => r.converged_ms)),
          completed_ms: median(runs.map((r) => r.completed_ms)),
        },
        runs,
      };
    }

    await fleet.stop();
    fleet = undefined;
    for (const target of targets.splice(0).reverse()) await target.stop();
    await clearRetained(deviceIds);
    deviceIds = [];
    const baseline = await brokerBaseline({
      url: mqttUrl,
      sessions: devices,
      payloadBytes: observer.desiredBytes,
    });
    log(`baseline: ${JSON.stringify(baseline)}`);
    return {
      devices,
      simulator_processes: Math.ceil(devices / devicesPerSimulator),
      update_ms: updateMs,
      registration: {
        how: 'seeded: devices rows and per-device credentials.json with a token signed by the installation key (bench/support/seed-devices.js); no device.registered audit events',
        seed_ms: seedMs,
        simulator_startup_ms: startupMs,
      },
      open_files_after_startup: files,
      per_simulated_device: {
        open_files: Number(
          (files.simulators.reduce((sum, f) => sum + f.open, 0) / devices).toFixed(2),
        ),
        rss_kib: Math.round((rssAfterStartup * 1024) / devices),
      },
      results,
      baseline,
      load_average: { at_start: loadAtStart, at_end: loads() },
    };
  } finally {
    fleet?.kill();
    for (const target of targets.reverse()) await target.stop();
    await observer.close();
    await clearRetained(deviceIds);
    await clearKv(kvPrefix);
    await database.drop();
    await rm(serverDir, { recursive: true, force: true });
    await rm(simulatorDir, { recursive: true, force: true });
  }
}
