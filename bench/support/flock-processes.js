// The real pieces a convergence bench runs: a fresh PostgreSQL database,
// `flock-server --target=<t>` processes on it (with Redis and Mosquitto), and
// CPU time of any process read from /proc, so a run can say which process
// spent what.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const serverMain = join(root, 'packages/server/dist/main.js');
export const flockdMain = join(root, 'packages/agent/dist/main.js');

export const env = (name, fallback) => process.env[name]?.trim() || fallback;
export const mqttUrl = env('FLOCK_BENCH_MQTT_URL', 'mqtt://127.0.0.1:1883');
export const kvUrl = env('FLOCK_BENCH_KV_URL', 'redis://127.0.0.1:6379');
const adminUrl = env('FLOCK_BENCH_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test');

/** An empty database of its own; the first server process migrates it. */
export async function createDatabase() {
  const name = `flock_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

/** Starts one target and resolves once it logged that it is ready. */
export async function startTarget(target, envOverrides, log) {
  const child = spawn(process.execPath, [serverMain, `--target=${target}`], {
    env: {
      ...process.env,
      FLOCK_HTTP_PORT: '0',
      FLOCK_LOG_LEVEL: 'info',
      ...envOverrides,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let url;
  let buffered = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk.toString()));
  await new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`${target} exited with ${code}: ${stderr}`));
    child.once('exit', onExit);
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line);
        if (entry.level >= 50) log(`${target}: ${entry.msg} ${entry.err?.message ?? ''}`);
        if (typeof entry.url === 'string' && entry.msg.startsWith('HTTP listening'))
          url = entry.url;
        if (entry.msg === 'flock-server ready') {
          child.off('exit', onExit);
          resolve();
        }
      }
    });
  });
  return {
    target,
    url,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const ticksPerSecond = 100;

/** User + system CPU seconds of one process, or 0 once it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return 0;
  }
}

/** Pids of every process whose command name is `name` (e.g. every PostgreSQL backend). */
export function pidsNamed(name) {
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return pids;
}

/** Resident memory of one process in MiB. */
export function rssMiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Math.round(Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

/** Open file descriptors of one process and its limit on them (RLIMIT_NOFILE, soft). */
export function openFiles(pid) {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
    return {
      open: readdirSync(`/proc/${pid}/fd`).length,
      limit: Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]),
    };
  } catch {
    return { open: null, limit: null };
  }
}

/** The ingester's message and drop counters by channel, from its /metrics. */
export async function ingesterCounters(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counters = {};
  for (const m of text.matchAll(
    /^flock_ingester_(messages|dropped)_total\{[^}]*channel="([^"]+)"[^}]*\} (\d+)/gm,
  ))
    counters[`${m[1]}.${m[2]}`] = (counters[`${m[1]}.${m[2]}`] ?? 0) + Number(m[3]);
  return counters;
}
