import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSpec,
  type LogEntry,
  managedLabel,
  releaseLabel,
  serviceLabel,
  specHashLabel,
} from './container-runtime.js';
import { ContainerRuntimeError } from './container-runtime-error.js';

export interface ContainerRuntimeContractOptions {
  /** An image the runtime can pull, with busybox's sh, echo and sleep. */
  image: string;
}

export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function collect(entries: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const all: LogEntry[] = [];
  for await (const entry of entries) all.push(entry);
  return all;
}

/** What every ContainerRuntime must do; names are random so runtimes may share an engine. */
export function containerRuntimeContract(
  name: string,
  create: () => ContainerRuntime | Promise<ContainerRuntime>,
  options: ContainerRuntimeContractOptions,
): void {
  describe(`${name} satisfies the ContainerRuntime contract`, () => {
    let runtime: ContainerRuntime;
    let run: string;
    let created: string[];

    beforeEach(async () => {
      runtime = await create();
      run = randomBytes(4).toString('hex');
      created = [];
    });

    afterEach(async () => {
      for (const id of created) {
        await runtime.stopContainer(id, 0).catch(() => undefined);
        await runtime.removeContainer(id).catch(() => undefined);
      }
    });

    function spec(suffix: string, script: string, overrides: Partial<ContainerSpec> = {}) {
      return {
        name: `flock-contract-${run}-${suffix}`,
        image: options.image,
        command: ['sh', '-c', script],
        environment: {},
        ports: [],
        volumes: [],
        restart: 'no',
        labels: {
          [managedLabel]: 'true',
          [serviceLabel]: suffix,
          [releaseLabel]: 'release-1',
          [specHashLabel]: 'hash-1',
        },
        ...overrides,
      } satisfies ContainerSpec;
    }

    async function createFrom(containerSpec: ContainerSpec): Promise<string> {
      await runtime.pullImage(options.image);
      const id = await runtime.createContainer(containerSpec);
      created.push(id);
      return id;
    }

    async function listed(id: string): Promise<ContainerInfo | undefined> {
      return (await runtime.listContainers()).find((container) => container.id === id);
    }

    async function printed(id: string, message: string): Promise<LogEntry> {
      return eventually(
        async () =>
          (await collect(runtime.logs(id, { follow: false }))).find((e) => e.message === message),
        `"${message}" in the logs of ${id}`,
      );
    }

    it('answers a ping', async () => {
      await expect(runtime.ping()).resolves.toBeUndefined();
    });

    it('pulls an image, after which it has it, and reports the pull complete', async () => {
      const progress: number[] = [];
      await runtime.pullImage(options.image, (p) => {
        if (p.percent !== undefined) progress.push(p.percent);
      });
      expect(await runtime.hasImage(options.image)).toBe(true);
      expect(progress.at(-1)).toBe(100);
      expect(await runtime.hasImage(`localhost/flock-no-such-image-${run}:1`)).toBe(false);
    });

    it('fails to pull an image nobody has, naming the image', async () => {
      const missing = `localhost/flock-no-such-image-${run}:1`;
      const pulling = runtime.pullImage(missing);
      await expect(pulling).rejects.toBeInstanceOf(ContainerRuntimeError);
      await expect(pulling).rejects.toThrow(missing);
      await expect(pulling).rejects.toMatchObject({ operation: 'pull image' });
      expect(await runtime.hasImage(missing)).toBe(false);
    });

    it('fails to create a container from an image it does not have, naming the image', async () => {
      const missing = `localhost/flock-no-such-image-${run}:1`;
      const creating = runtime.createContainer(spec('orphan', 'true', { image: missing }));
      await expect(creating).rejects.toThrow(missing);
      await expect(creating).rejects.toMatchObject({ code: 'not_found' });
    });

    it('creates a container with env, labels, ports and a volume, listed as created', async () => {
      const web = spec('web', 'sleep 600', {
        environment: { GREETING: 'hello' },
        ports: [{ container: 8080, protocol: 'tcp' }],
        volumes: [{ source: `flock-contract-${run}-data`, target: '/data' }],
      });
      const id = await createFrom(web);
      expect(await listed(id)).toMatchObject({
        id,
        name: web.name,
        image: options.image,
        state: 'created',
        labels: web.labels,
      });
    });

    it('starts it, and the logs hold what it printed on stdout and stderr', async () => {
      const script = `trap 'exit 0' TERM; echo "greeting=$GREETING"; echo oops >&2; sleep 600 & wait`;
      const id = await createFrom(spec('printer', script, { environment: { GREETING: 'hello' } }));
      await runtime.startContainer(id);
      const info = await listed(id);
      expect(info?.state).toBe('running');
      expect(Number.isNaN(Date.parse(info?.startedAt ?? ''))).toBe(false);
      const stdout = await printed(id, 'greeting=hello');
      expect(stdout.stream).toBe('stdout');
      expect(Number.isNaN(Date.parse(stdout.timestamp))).toBe(false);
      expect((await printed(id, 'oops')).stream).toBe('stderr');
      await runtime.startContainer(id);
      expect((await listed(id))?.state).toBe('running');
    });

    it('stops it and removes it; doing either again is fine', async () => {
      const id = await createFrom(
        spec('stopper', `trap 'exit 0' TERM; echo ready; sleep 600 & wait`),
      );
      await runtime.startContainer(id);
      // Until the shell has set its trap, a TERM is ignored and the stop ends in a kill.
      await printed(id, 'ready');
      await runtime.stopContainer(id, 10);
      const stopped = await listed(id);
      expect(['exited', 'stopped']).toContain(stopped?.state);
      expect(stopped?.exitCode).toBe(0);
      await runtime.stopContainer(id, 10);
      await runtime.removeContainer(id);
      expect(await listed(id)).toBeUndefined();
      await runtime.removeContainer(id);
    });

    it('lists a container whose command ended as exited, with its exit code', async () => {
      const id = await createFrom(spec('quitter', 'echo bye; exit 3'));
      await runtime.startContainer(id);
      const exited = await eventually(async () => {
        const info = await listed(id);
        return info?.state === 'exited' ? info : undefined;
      }, 'the container to exit');
      expect(exited.exitCode).toBe(3);
      await printed(id, 'bye');
    });

    it('never lists containers without the managed label', async () => {
      const stranger = spec('stranger', 'sleep 600');
      const id = await createFrom({ ...stranger, labels: { 'org.example.owner': 'someone' } });
      expect(await listed(id)).toBeUndefined();
      for (const container of await runtime.listContainers()) {
        expect(container.labels[managedLabel]).toBeDefined();
      }
    });

    it('follows the logs as lines are printed until the signal aborts', async () => {
      const script = `trap 'exit 0' TERM; echo first; sleep 1; echo second; sleep 600 & wait`;
      const id = await createFrom(spec('talker', script));
      await runtime.startContainer(id);
      const controller = new AbortController();
      const seen: string[] = [];
      let abortedAt = 0;
      for await (const entry of runtime.logs(id, { follow: true, signal: controller.signal })) {
        seen.push(entry.message);
        if (entry.message === 'second') {
          // Abort while the stream idles, which is when following must still end.
          setTimeout(() => {
            abortedAt = Date.now();
            controller.abort();
          }, 300);
        }
      }
      expect(Date.now() - abortedAt).toBeLessThan(2000);
      expect(seen).toEqual(['first', 'second']);
    });

    it('lets an abort cancel a stop that is waiting out its timeout', async () => {
      const id = await createFrom(spec('stubborn', `trap '' TERM; echo ready; sleep 600 & wait`));
      await runtime.startContainer(id);
      await printed(id, 'ready');
      const began = Date.now();
      const stopping = runtime.stopContainer(id, 60, AbortSignal.timeout(300));
      await expect(stopping).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(Date.now() - began).toBeLessThan(5000);
    });

    it('rejects with the reason of a signal aborted before the call', async () => {
      const reason = new Error('the agent is shutting down');
      const signal = AbortSignal.abort(reason);
      await expect(runtime.pullImage(options.image, undefined, signal)).rejects.toBe(reason);
      await expect(runtime.listContainers(signal)).rejects.toBe(reason);
      await expect(runtime.createContainer(spec('late', 'true'), signal)).rejects.toBe(reason);
      await expect(collect(runtime.logs('any', { follow: true, signal }))).resolves.toEqual([]);
    });
  });
}
