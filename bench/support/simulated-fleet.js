// `flockd simulate` split over several processes: each simulated device holds
// about 2.3 file descriptors (its MQTT socket, its outbox segment, ...), and a
// process may open at most RLIMIT_NOFILE (20,000 here, not raisable), so one
// process tops out near 8,700 devices. Device i of process p keeps its
// credentials in <dir>/<p>/<i>, where seedDevices wrote them.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { flockdMain } from './flock-processes.js';

export const devicesPerSimulator = Number(process.env.FLOCK_BENCH_DEVICES_PER_SIMULATOR ?? 1250);

/** Where device `index` of the fleet keeps its data. */
export const deviceDir = (dir, index) =>
  join(dir, String(Math.floor(index / devicesPerSimulator)), String(index % devicesPerSimulator));

// Every simulated agent writes its stores and outbox with fsync through libuv's pool.
const threads = process.env.FLOCK_BENCH_SIMULATOR_THREADS ?? '64';
// For profiling the simulated fleet alone, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
const nodeArgs = (process.env.FLOCK_BENCH_SIMULATOR_NODE_ARGS ?? '').split(' ').filter(Boolean);

export function startSimulatedFleet({ devices, dir, apiUrl, mqttUrl, provisioningKey, updateMs }) {
  const children = [];
  for (let from = 0, p = 0; from < devices; from += devicesPerSimulator, p += 1) {
    const count = Math.min(devicesPerSimulator, devices - from);
    const child = spawn(
      process.execPath,
      [
        ...nodeArgs,
        flockdMain,
        'simulate',
        `--devices=${count}`,
        `--provisioning-key=${provisioningKey}`,
        `--api-url=${apiUrl}`,
        `--mqtt-url=${mqttUrl}`,
        '--offline-rate=0',
        '--failure-rate=0',
        // Services' log lines play no part in convergence and cost each device a publish every 5 s.
        '--service-log-seconds=3600',
        `--update-ms=${updateMs}`,
        // The agent's own 2 s - 300 s backoff would leave a device that timed out connecting to
        // a busy broker waiting minutes; the simulated-fleet tests shorten it the same way.
        '--retry-ms=500-5000',
        `--seed=${p + 1}`,
        `--data-dir=${join(dir, String(p))}`,
        '--json',
      ],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, UV_THREADPOOL_SIZE: threads },
      },
    );
    children.push({ child, exited: once(child, 'exit') });
  }
  return {
    pids: () => children.map(({ child }) => child.pid),
    async stop() {
      for (const { child } of children) child.kill('SIGTERM');
      await Promise.all(children.map(({ exited }) => exited));
    },
    kill() {
      for (const { child } of children) child.kill('SIGKILL');
    },
  };
}
