import {
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSpec,
  type LogEntry,
  managedLabel,
  type PullProgress,
} from './container-runtime.js';
import { ContainerRuntimeError, type RuntimeErrorCode } from './container-runtime-error.js';
import { type SimulatedClock, wallClock } from './simulated-clock.js';
import { SimulatedContainer } from './simulated-container.js';
import { simulatedProgram } from './simulated-program.js';

export type DurationRange = readonly [minMs: number, maxMs: number];

export interface SimulatedRuntimeOptions {
  /** Same seed and same calls give the same ids, durations and failures. */
  seed?: number;
  pullMs?: DurationRange;
  startMs?: DurationRange;
  /** How long a graceful stop takes; a container that ignores TERM takes the whole timeout. */
  stopMs?: DurationRange;
  /** Probabilities, 0..1. `crash`: the container exits with code 1 soon after starting. */
  failures?: { pull?: number; start?: number; crash?: number };
  crashAfterMs?: DurationRange;
  /** How often a long-running image process without a command prints a line. */
  heartbeatMs?: number;
  /** Whether the simulated registry knows an image; by default it knows every one. */
  imageExists?: (reference: string) => boolean;
  clock?: SimulatedClock;
}

const defaults = {
  pullMs: [500, 3000] as DurationRange,
  startMs: [100, 800] as DurationRange,
  stopMs: [50, 500] as DurationRange,
  crashAfterMs: [200, 3000] as DurationRange,
  heartbeatMs: 10_000,
};

// Roughly the grammar podman accepts: lowercase repository path, optional tag and digest.
const referencePattern =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

function mix32(value: number): number {
  let x = value | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** An in-memory ContainerRuntime for the fleet simulator. */
export class SimulatedRuntime implements ContainerRuntime {
  readonly kind = 'simulated';
  private readonly options: SimulatedRuntimeOptions;
  private readonly clock: SimulatedClock;
  private readonly seed: number;
  private randomState: number;
  private created = 0;
  // Replaced rather than pushed to, so each array is exactly as long as its few entries.
  private images: readonly string[] = [];
  private containers: readonly SimulatedContainer[] = [];

  constructor(options: SimulatedRuntimeOptions = {}) {
    this.options = options;
    this.clock = options.clock ?? wallClock;
    this.seed = (options.seed ?? 1) >>> 0;
    this.randomState = this.seed;
  }

  async ping(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
  }

  async listContainers(signal?: AbortSignal): Promise<ContainerInfo[]> {
    signal?.throwIfAborted();
    const now = this.clock.now();
    return this.containers
      .filter((container) => container.spec.labels[managedLabel] !== undefined)
      .map((container) => this.info(container.settle(now)));
  }

  async hasImage(reference: string, signal?: AbortSignal): Promise<boolean> {
    signal?.throwIfAborted();
    return this.images.includes(reference);
  }

  async pullImage(
    reference: string,
    onProgress?: (progress: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    signal?.throwIfAborted();
    const fail = (detail: string) =>
      this.error('pull image', `"${reference}"`, 'pull_failed', detail);
    if (!referencePattern.test(reference)) throw fail('invalid reference format');
    if (this.images.includes(reference)) {
      onProgress?.({ percent: 100, detail: `${reference} is present` });
      return;
    }
    // Both draws happen on every pull, so one outcome never shifts the later ones.
    const duration = this.draw(this.options.pullMs ?? defaults.pullMs);
    const breaks = this.chance(this.options.failures?.pull);
    if (!(this.options.imageExists?.(reference) ?? true)) {
      await this.clock.sleep(duration / 10, signal);
      throw this.error('pull image', `"${reference}"`, 'not_found', 'manifest unknown');
    }
    for (let quarter = 1; quarter <= 4; quarter += 1) {
      await this.clock.sleep(duration / 4, signal);
      if (breaks && quarter === 2) throw fail('simulated network failure');
      onProgress?.({ percent: quarter * 25, detail: `pulling ${reference}` });
    }
    if (!this.images.includes(reference)) this.images = [...this.images, reference];
  }

  async createContainer(spec: ContainerSpec, signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const subject = `"${spec.name}" from image "${spec.image}"`;
    if (!this.images.includes(spec.image)) {
      throw this.error('create container', subject, 'not_found', `${spec.image}: image not known`);
    }
    if (this.containers.some((container) => container.spec.name === spec.name)) {
      throw this.error('create container', subject, 'conflict', 'that name is already in use');
    }
    const container = new SimulatedContainer(this.nextId(), spec);
    this.containers = [...this.containers, container];
    return container.id;
  }

  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    const container = this.find(id, 'start container', signal).settle(this.clock.now());
    if (container.state === 'running') return;
    const duration = this.draw(this.options.startMs ?? defaults.startMs);
    const fails = this.chance(this.options.failures?.start);
    const crashes = this.chance(this.options.failures?.crash);
    const crashAfter = this.draw(this.options.crashAfterMs ?? defaults.crashAfterMs);
    await this.clock.sleep(duration, signal);
    this.find(id, 'start container');
    if (fails)
      throw this.error('start container', `"${id}"`, 'engine_failed', 'simulated start failure');
    const program = simulatedProgram(container.spec);
    const now = this.clock.now();
    container.state = 'running';
    container.startedAt = now;
    container.endsAt = now + (program.exitsAfterMs ?? Infinity);
    container.exitCode = program.exitCode;
    container.onTerm = program.onTerm ?? -1;
    container.crashed = crashes && crashAfter < container.endsAt - now;
    if (container.crashed) {
      container.endsAt = now + crashAfter;
      container.exitCode = 1;
    }
  }

  async stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    const container = this.find(id, 'stop container', signal).settle(this.clock.now());
    const graceful = this.draw(this.options.stopMs ?? defaults.stopMs);
    if (container.state !== 'running') return;
    const ignoresTerm = container.onTerm < 0;
    const wait = ignoresTerm ? Math.max(0, timeoutSeconds) * 1000 : graceful;
    const ownExit = container.endsAt - this.clock.now();
    await this.clock.sleep(Math.min(wait, ownExit), signal);
    if (container.settle(this.clock.now()).state !== 'running') return;
    container.state = 'exited';
    container.endsAt = this.clock.now();
    container.exitCode = ignoresTerm ? 137 : container.onTerm;
  }

  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const container = this.containers
      .find((candidate) => candidate.id === id)
      ?.settle(this.clock.now());
    if (container === undefined) return;
    if (container.state === 'running') {
      throw this.error('remove container', `"${id}"`, 'conflict', 'the container is running');
    }
    this.containers = this.containers.filter((candidate) => candidate !== container);
  }

  async *logs(
    id: string,
    options: { since?: string; follow: boolean; signal?: AbortSignal },
  ): AsyncGenerator<LogEntry> {
    const { signal } = options;
    if (signal?.aborted === true) return;
    const container = this.find(id, 'read logs of container');
    if (container.startedAt === 0) return;
    const program = simulatedProgram(container.spec);
    const heartbeat = this.options.heartbeatMs ?? defaults.heartbeatMs;
    const since = options.since === undefined ? -Infinity : Date.parse(options.since);
    let shown = -Infinity;
    for (;;) {
      const now = this.clock.now();
      const until = Math.min(now, container.settle(now).endsAt);
      yield* container.lines(program, { after: shown, until, since }, heartbeat);
      shown = until;
      const gone = !this.containers.includes(container);
      if (!options.follow || container.state !== 'running' || gone) return;
      // Wake for the next line, or soon enough to notice a stop.
      const next = container.nextLineAt(program, shown, heartbeat);
      try {
        await this.clock.sleep(Math.min(Math.max(1, next - now), 250), signal);
      } catch {
        return;
      }
    }
  }

  private info(container: SimulatedContainer): ContainerInfo {
    const info: ContainerInfo = {
      id: container.id,
      name: container.spec.name,
      image: container.spec.image,
      state: container.state,
      labels: { ...container.spec.labels },
    };
    if (container.startedAt > 0) info.startedAt = new Date(container.startedAt).toISOString();
    if (container.state === 'exited') info.exitCode = container.exitCode;
    return info;
  }

  private find(id: string, operation: string, signal?: AbortSignal): SimulatedContainer {
    signal?.throwIfAborted();
    const container = this.containers.find((candidate) => candidate.id === id);
    if (container === undefined) {
      throw this.error(operation, `"${id}"`, 'not_found', 'no such container');
    }
    return container;
  }

  private error(operation: string, subject: string, code: RuntimeErrorCode, detail: string) {
    return new ContainerRuntimeError({ engine: 'simulated', operation, subject, code, detail });
  }

  /** Mulberry32: tiny state, good enough spread for dice rolls. */
  private random(): number {
    this.randomState = (this.randomState + 0x6d2b79f5) | 0;
    let t = this.randomState;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private draw([min, max]: DurationRange): number {
    return min + this.random() * (max - min);
  }

  private chance(probability = 0): boolean {
    return this.random() < probability;
  }

  /** Ids come from the seed and a counter, not the dice, so they never shift an outcome. */
  private nextId(): string {
    this.created += 1;
    const words: string[] = [];
    for (let word = 0; word < 8; word += 1) {
      words.push(
        mix32(this.seed ^ mix32(this.created * 8 + word))
          .toString(16)
          .padStart(8, '0'),
      );
    }
    // join() gives one flat string; += would keep a rope of eight pieces alive per container.
    return words.join('');
  }
}
