import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podmanMissing, startTestPodman, type TestPodman } from '../../test/support/podman.js';
import { containerRuntimeContract, eventually } from './container-runtime.contract.js';
import { type ContainerSpec, managedLabel } from './container-runtime.js';
import { ContainerRuntimeError } from './container-runtime-error.js';
import { LibpodClient } from './libpod-client.js';
import { PodmanRuntime } from './podman-runtime.js';

const missing = podmanMissing();
if (missing !== undefined) console.warn(`skipping podman runtime tests: ${missing}`);

describe('PodmanRuntime without an engine', () => {
  it('says which socket does not answer, for every operation', async () => {
    const runtime = new PodmanRuntime({ socketPath: '/nonexistent/podman.sock' });
    const pinging = runtime.ping();
    await expect(pinging).rejects.toBeInstanceOf(ContainerRuntimeError);
    await expect(pinging).rejects.toMatchObject({ code: 'engine_unavailable' });
    await expect(pinging).rejects.toThrow('/nonexistent/podman.sock');
    await expect(runtime.pullImage('alpine:3')).rejects.toMatchObject({
      code: 'engine_unavailable',
      operation: 'pull image',
    });
    await expect(runtime.listContainers()).rejects.toThrow(/^podman: list containers failed: /);
  });
});

const title = `PodmanRuntime on a real podman${missing === undefined ? '' : ` (skipped: ${missing})`}`;

describe.skipIf(missing !== undefined)(title, () => {
  let podman: TestPodman;
  const runtime = () => new PodmanRuntime({ socketPath: podman.socketPath });

  beforeAll(async () => {
    const began = Date.now();
    podman = await startTestPodman();
    console.log(`podman service and image ready in ${Date.now() - began} ms`);
  });
  afterAll(async () => {
    await podman?.cleanup();
  });

  containerRuntimeContract('PodmanRuntime', runtime, {
    get image() {
      return podman.image;
    },
  });

  it('speaks the unversioned API too', async () => {
    await new PodmanRuntime({ socketPath: podman.socketPath, apiVersion: '' }).ping();
  });

  it('never lists a container the podman CLI made without the managed label', async () => {
    const name = `flock-cli-${Date.now()}`;
    const id = (
      await podman.podman(['create', '--name', name, podman.image, 'sleep', '60'])
    ).trim();
    try {
      const ids = (await runtime().listContainers()).map((container) => container.id);
      expect(ids).not.toContain(id);
    } finally {
      await podman.podman(['rm', '--force', id]);
    }
  });

  it('creates named volumes with the managed label and mounts host paths', async () => {
    const hostDir = await mkdtemp(join(tmpdir(), 'flock-bind-'));
    const podmanRuntime = runtime();
    const volume = `flock-volume-${Date.now()}`;
    const spec: ContainerSpec = {
      name: `flock-mounts-${Date.now()}`,
      image: podman.image,
      command: ['sh', '-c', 'echo kept > /data/file; echo shared > /host/file; cat /data/file'],
      environment: {},
      ports: [],
      volumes: [
        { source: volume, target: '/data' },
        { source: hostDir, target: '/host' },
      ],
      restart: 'no',
      labels: { [managedLabel]: 'true' },
    };
    try {
      const id = await podmanRuntime.createContainer(spec);
      await podmanRuntime.startContainer(id);
      await eventually(async () => {
        const info = (await podmanRuntime.listContainers()).find((c) => c.id === id);
        return info?.state === 'exited' ? info : undefined;
      }, 'the container to exit');
      expect(await readFile(join(hostDir, 'file'), 'utf8')).toBe('shared\n');
      const inspect = JSON.parse(await podman.podman(['volume', 'inspect', volume])) as {
        Labels: Record<string, string>;
      }[];
      expect(inspect[0]?.Labels[managedLabel]).toBe('true');
      await podmanRuntime.removeContainer(id);
    } finally {
      await rm(hostDir, { recursive: true, force: true });
    }
  });

  it('refuses a second container with the same name as a conflict', async () => {
    const podmanRuntime = runtime();
    const spec: ContainerSpec = {
      name: `flock-twice-${Date.now()}`,
      image: podman.image,
      command: ['true'],
      environment: {},
      ports: [],
      volumes: [],
      restart: 'no',
      labels: { [managedLabel]: 'true' },
    };
    const id = await podmanRuntime.createContainer(spec);
    try {
      const again = podmanRuntime.createContainer(spec);
      await expect(again).rejects.toMatchObject({ code: 'conflict' });
      await expect(again).rejects.toThrow(`create container "${spec.name}"`);
    } finally {
      await podmanRuntime.removeContainer(id);
    }
  });

  it('reports an invalid reference as a failed pull', async () => {
    const pulling = runtime().pullImage('Not A Reference');
    await expect(pulling).rejects.toMatchObject({ code: 'pull_failed' });
    await expect(pulling).rejects.toThrow('Not A Reference');
  });

  it('reads JSON answers through the client', async () => {
    const client = new LibpodClient({ socketPath: podman.socketPath });
    const { status, body } = await client.call('GET', '/images/json');
    expect(status).toBe(200);
    expect(JSON.stringify(body)).toContain(podman.image);
  });
});
