// Memory of the device agent: (a) one real flockd's RSS idle after it has
// converged, median of five runs, beside a bare `node -e` idle process
// measured the same way in the same run; (b) what the fleet simulator costs
// per simulated device. Both spawn the built binary (`npm run build` first,
// the bundle devices run) against an in-process MQTT broker and a fake
// registration API, so the measured process holds only the agent.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';

const agentMain = join(dirname(fileURLToPath(import.meta.url)), '../packages/agent/dist/main.js');
const simulatedDevices = 1000;
const mib = 2 ** 20;

const desired = {
  v: 1,
  revision: 1,
  deployment_id: 'dep-1',
  release: {
    id: 'rel-1',
    version: 1,
    compose: {
      services: {
        web: { image: 'registry.example/web:1' },
        worker: { image: 'registry.example/worker:1' },
      },
    },
    content_hash: 'c1',
  },
  environment: {},
  config: { heartbeat_interval_seconds: 60, telemetry_interval_seconds: 60, updates_paused: false },
};

/** A broker that hands every registered device a retained desired state and counts converged ones. */
async function startFleetServer() {
  const aedes = await Aedes.createBroker();
  const converged = new Set();
  aedes.on('publish', (packet, client) => {
    if (!client || !packet.topic.endsWith('/state')) return;
    const state = JSON.parse(packet.payload.toString());
    if (state.applied_revision === 1 && state.services.every((s) => s.status === 'running'))
      converged.add(client.id);
  });
  const broker = createNetServer((socket) => aedes.handle(socket));
  broker.listen(0, '127.0.0.1');
  await once(broker, 'listening');

  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const api = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    const iat = Math.floor(Date.now() / 1000);
    const token = `${part({ alg: 'none' })}.${part({ iat, exp: iat + 86_400 })}.unsigned`;
    const expiresAt = new Date((iat + 86_400) * 1000).toISOString();
    const deviceId = body.uuid ?? body.device_id;
    await new Promise((resolve) =>
      aedes.publish(
        {
          cmd: 'publish',
          topic: `devices/${deviceId}/desired`,
          payload: Buffer.from(JSON.stringify(desired)),
          qos: 1,
          retain: true,
          dup: false,
        },
        resolve,
      ),
    );
    res.writeHead(req.url === '/v1/devices/register' ? 201 : 200, {
      'content-type': 'application/json',
    });
    res.end(
      JSON.stringify({
        device_id: deviceId,
        org_id: '00000000-0000-4000-8000-000000000001',
        fleet_id: '00000000-0000-4000-8000-000000000002',
        token,
        token_expires_at: expiresAt,
        expires_at: expiresAt,
        device_secret: randomBytes(16).toString('hex'),
      }),
    );
  });
  api.listen(0, '127.0.0.1');
  await once(api, 'listening');
  return {
    apiUrl: `http://127.0.0.1:${api.address().port}`,
    mqttUrl: `mqtt://127.0.0.1:${broker.address().port}`,
    converged,
    async close() {
      api.closeAllConnections();
      api.close();
      broker.close();
      await new Promise((resolve) => aedes.close(resolve));
    },
  };
}

/** VmRSS, and its anonymous (heap) and file-backed (mostly the node binary's pages) parts. */
async function memory(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]) * 1024;
  return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile') };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Idle RSS: after 15 s, once start-up garbage is collected (V8's memory
 * reducer runs a few seconds after allocation stops), the median of ten
 * samples a second apart. Idle work (heartbeats, reconcile rounds) makes
 * RSS saw-tooth by about 1 MiB; the median does not chase the teeth.
 */
async function idleMemory(pid) {
  await delay(15_000);
  const samples = [];
  for (let i = 0; i < 10; i += 1) {
    samples.push(await memory(pid));
    await delay(1000);
  }
  const middle = median(samples.map((sample) => sample.rss));
  return samples.find((sample) => sample.rss === middle);
}

const toMib = (bytes) => Math.round((bytes / mib) * 10) / 10;

async function until(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

async function stopChild(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function oneAgent(log) {
  const server = await startFleetServer();
  const dir = await mkdtemp(join(tmpdir(), 'flockd-bench-'));
  const config = join(dir, 'flockd.json');
  await writeFile(
    config,
    JSON.stringify({
      api_url: server.apiUrl,
      mqtt_url: server.mqttUrl,
      provisioning_key: 'pk_bench',
      data_dir: join(dir, 'data'),
      device_type: 'generic-amd64',
      architecture: 'amd64',
      runtime: 'simulated',
      log_level: 'warn',
    }),
  );
  const child = spawn(process.execPath, [agentMain, 'run', '--config', config], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await until(() => server.converged.size === 1, 'the agent to converge', 60_000);
    const idle = await idleMemory(child.pid);
    log(
      `one agent idle after converging: ${toMib(idle.rss)} MiB (anonymous ${toMib(idle.anon)}, file ${toMib(idle.file)})`,
    );
    return idle;
  } finally {
    await stopChild(child);
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function simulator(devices, log) {
  const server = await startFleetServer();
  const dir = await mkdtemp(join(tmpdir(), 'flockd-bench-sim-'));
  const args = [
    agentMain,
    'simulate',
    ...['--devices', String(devices), '--provisioning-key', 'pk_bench'],
    ...['--api-url', server.apiUrl, '--mqtt-url', server.mqttUrl, '--data-dir', dir],
    ...['--offline-rate', '0', '--failure-rate', '0', '--update-ms', '200-1000'],
    ...['--registration-concurrency', '64', '--progress-seconds', '1', '--json'],
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let started = false;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    if (/registered \d+\//.test(text)) started = true;
  });
  try {
    await until(() => started, 'the simulator to start', 30_000);
    await until(() => server.converged.size === devices, `${devices} devices converged`, 600_000);
    const { rss } = await idleMemory(child.pid);
    log(`simulator with ${devices} devices: ${toMib(rss)} MiB`);
    return rss;
  } finally {
    await stopChild(child);
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** What any Node.js process costs on this machine: the floor under the agent. */
async function bareNode(log) {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], {
    stdio: 'ignore',
  });
  try {
    const idle = await idleMemory(child.pid);
    log(`bare node -e, idle: ${toMib(idle.rss)} MiB`);
    return idle;
  } finally {
    await stopChild(child);
  }
}

export default async function run({ log }) {
  const bare = await bareNode(log);
  const runs = [];
  for (let i = 0; i < 5; i += 1) runs.push(await oneAgent(log));
  const agent = runs.find((one) => one.rss === median(runs.map((r) => r.rss)));
  const simulatorBare = await simulator(0, log);
  const fleet = await simulator(simulatedDevices, log);
  const perDevice = Math.round((fleet - simulatorBare) / simulatedDevices);
  log(`per simulated device: ${(perDevice / 1024).toFixed(1)} KiB`);
  return {
    metric: 'agent_idle_rss',
    value: toMib(agent.rss),
    unit: 'MiB',
    better: 'lower',
    target: 60,
    baseline: {
      what: 'a bare `node -e` idle process, measured the same way in the same run',
      value: toMib(bare.rss),
    },
    above_baseline_mib: toMib(agent.rss - bare.rss),
    runs_mib: runs.map((one) => toMib(one.rss)),
    median_run: { anonymous_mib: toMib(agent.anon), file_mib: toMib(agent.file) },
    bare_node: { anonymous_mib: toMib(bare.anon), file_mib: toMib(bare.file) },
    simulator: {
      devices: simulatedDevices,
      rss_mib: toMib(fleet),
      baseline_rss_mib: toMib(simulatorBare),
      bytes_per_device: perDevice,
    },
  };
}
