import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, copyFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPodman {
  socketPath: string;
  /** A busybox image made locally, so no registry is needed. */
  image: string;
  /** The environment that points the podman CLI at this instance. */
  env: NodeJS.ProcessEnv;
  /** Runs the podman CLI against this instance; resolves with its stdout. */
  podman(args: string[]): Promise<string>;
  /** Removes every container and volume, stops the service and deletes the directory. */
  cleanup(): Promise<void>;
}

/** Why podman tests are skipped, or undefined when they can run. */
export function podmanMissing(): string | undefined {
  const probe = spawnSync('podman', ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0
    ? undefined
    : 'podman is not installed (run .ci/podman-setup.sh)';
}

const busyboxPaths = ['/bin/busybox', '/usr/bin/busybox'];
const applets = ['sh', 'echo', 'sleep', 'cat', 'true', 'ls'];

/**
 * Facts of CI machines this depends on: crun and podman's raised nofile
 * limit are refused there, so containers run with runc and ulimits of 1024;
 * there is no systemd, so cgroups are managed directly and logs and events go
 * to files. Storage, runtime state and locks live in the temp dir (file locks
 * rather than the host-wide /dev/shm segment) so parallel runs cannot meet.
 */
function containersConf(dir: string): string {
  return [
    '[containers]',
    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
    'log_driver = "k8s-file"',
    '',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    'lock_type = "file"',
    `tmp_dir = "${join(dir, 'libpod')}"`,
    '',
  ].join('\n');
}

function storageConf(dir: string): string {
  return [
    '[storage]',
    // vfs works on any filesystem, including the overlay a CI container already runs on.
    'driver = "vfs"',
    `runroot = "${join(dir, 'runroot')}"`,
    `graphroot = "${join(dir, 'graphroot')}"`,
    '',
  ].join('\n');
}

function pingOnce(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/libpod/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => req.destroy());
    req.end();
  });
}

async function waitForSocket(socketPath: string, service: ChildProcess, log: () => string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (service.exitCode !== null) {
      throw new Error(`podman system service exited with ${service.exitCode}: ${log()}`);
    }
    if (await pingOnce(socketPath)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`podman system service did not answer on ${socketPath}: ${log()}`);
}

async function buildImage(dir: string, image: string, podman: TestPodman['podman']) {
  const busybox = busyboxPaths.find((path) => existsSync(path));
  if (busybox === undefined) {
    throw new Error('busybox is not installed (run .ci/podman-setup.sh for busybox-static)');
  }
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await mkdir(join(rootfs, 'tmp'));
  await copyFile(busybox, join(rootfs, 'bin', 'busybox'));
  for (const applet of applets) await symlink('busybox', join(rootfs, 'bin', applet));
  const tarball = join(dir, 'rootfs.tar');
  await run('tar', ['-C', rootfs, '-cf', tarball, '.']);
  await podman(['import', '--change', 'ENV=PATH=/bin', tarball, image]);
}

/** A private podman service with its own storage and a local busybox image. */
export async function startTestPodman(): Promise<TestPodman> {
  const dir = await mkdtemp(join(tmpdir(), 'flock-podman-'));
  await writeFile(join(dir, 'containers.conf'), containersConf(dir));
  await writeFile(join(dir, 'storage.conf'), storageConf(dir));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
  };
  const podman = async (args: string[]) =>
    (await run('podman', args, { env, maxBuffer: 16 * 1024 * 1024 })).stdout;
  const socketPath = join(dir, 'podman.sock');
  const image = 'localhost/flock-test-busybox:1';

  let service: ChildProcess | undefined;
  let serviceLog = '';
  const cleanup = async () => {
    // Containers outlive the service (conmon holds them), so remove them first.
    await podman(['rm', '--all', '--force', '--time', '0']).catch(() => '');
    await podman(['volume', 'rm', '--all', '--force']).catch(() => '');
    if (service !== undefined && service.exitCode === null) {
      const exited = new Promise((resolve) => service?.once('exit', resolve));
      service.kill('SIGTERM');
      const timer = setTimeout(() => service?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await buildImage(dir, image, podman);
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${socketPath}`], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    service.stderr?.on('data', (chunk: Buffer) => {
      serviceLog = (serviceLog + chunk.toString('utf8')).slice(-4000);
    });
    await waitForSocket(socketPath, service, () => serviceLog);
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { socketPath, image, env, podman, cleanup };
}
