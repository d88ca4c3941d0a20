import type {
  ContainerInfo,
  ContainerRuntime,
  ContainerSpec,
  LogEntry,
  PullProgress,
} from '../../src/runtime/container-runtime.js';

interface FakeContainer {
  id: string;
  spec: ContainerSpec;
  state: ContainerInfo['state'];
  exitCode?: number;
  startedAt?: string;
  logs: LogEntry[];
  logWaiters: Set<() => void>;
}

/**
 * A small in-memory ContainerRuntime for the agent's tests: instant, with
 * failures injected per call, and a record of every call in order.
 */
export class FakeRuntime implements ContainerRuntime {
  readonly kind = 'simulated';
  readonly calls: string[] = [];
  readonly images = new Set<string>();
  readonly containers = new Map<string, FakeContainer>();
  /** Images whose next N pulls fail. */
  readonly failPulls = new Map<string, number>();
  #next = 1;

  async ping(): Promise<void> {}

  async listContainers(signal?: AbortSignal): Promise<ContainerInfo[]> {
    signal?.throwIfAborted();
    return [...this.containers.values()].map((c) => ({
      id: c.id,
      name: c.spec.name,
      image: c.spec.image,
      state: c.state,
      labels: c.spec.labels,
      ...(c.exitCode === undefined ? {} : { exitCode: c.exitCode }),
      ...(c.startedAt === undefined ? {} : { startedAt: c.startedAt }),
    }));
  }

  async hasImage(reference: string): Promise<boolean> {
    return this.images.has(reference);
  }

  async pullImage(reference: string, onProgress?: (progress: PullProgress) => void): Promise<void> {
    this.calls.push(`pull ${reference}`);
    const failures = this.failPulls.get(reference) ?? 0;
    if (failures > 0) {
      this.failPulls.set(reference, failures - 1);
      throw new Error(`pull ${reference}: registry unreachable`);
    }
    onProgress?.({ percent: 50 });
    onProgress?.({ percent: 100 });
    this.images.add(reference);
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    if (!this.images.has(spec.image)) throw new Error(`no image ${spec.image}`);
    if ([...this.containers.values()].some((c) => c.spec.name === spec.name)) {
      throw new Error(`name ${spec.name} in use`);
    }
    const id = `ctr${this.#next++}`;
    this.calls.push(`create ${spec.labels['io.flock.service']} ${id}`);
    this.containers.set(id, { id, spec, state: 'created', logs: [], logWaiters: new Set() });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    const container = this.#get(id);
    container.state = 'running';
    container.startedAt = new Date().toISOString();
  }

  async stopContainer(id: string): Promise<void> {
    this.calls.push(`stop ${id}`);
    const container = this.#get(id);
    if (container.state === 'running') container.state = 'exited';
    container.exitCode = 0;
    for (const wake of container.logWaiters) wake();
  }

  async removeContainer(id: string): Promise<void> {
    this.calls.push(`remove ${id}`);
    const container = this.containers.get(id);
    if (container?.state === 'running') throw new Error(`${id} is running`);
    this.containers.delete(id);
    for (const wake of container?.logWaiters ?? []) wake();
  }

  /** Makes a container print a line, as its process would. */
  print(id: string, message: string, stream: LogEntry['stream'] = 'stdout'): void {
    const container = this.#get(id);
    container.logs.push({ stream, message, timestamp: new Date().toISOString() });
    for (const wake of container.logWaiters) wake();
  }

  async *logs(
    id: string,
    options: { since?: string; follow: boolean; signal?: AbortSignal },
  ): AsyncIterable<LogEntry> {
    const container = this.#get(id);
    let index = 0;
    while (!options.signal?.aborted) {
      while (index < container.logs.length) {
        const entry = container.logs[index++]!;
        if (options.since === undefined || entry.timestamp >= options.since) yield entry;
      }
      if (!options.follow || container.state !== 'running' || !this.containers.has(id)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          container.logWaiters.delete(done);
          options.signal?.removeEventListener('abort', done);
          resolve();
        };
        container.logWaiters.add(done);
        options.signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  #get(id: string): FakeContainer {
    const container = this.containers.get(id);
    if (container === undefined) throw new Error(`no container ${id}`);
    return container;
  }
}
