import {
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSpec,
  type ContainerState,
  type LogEntry,
  managedLabel,
  type PullProgress,
} from './container-runtime.js';
import { ContainerRuntimeError, type RuntimeErrorCode } from './container-runtime-error.js';
import { demultiplexLogs, logEntries } from './demultiplex-logs.js';
import { isRecord, LibpodClient, LibpodError, readJsonLines } from './libpod-client.js';
import { isNamedVolume, toSpecGenerator } from './spec-generator.js';

export const defaultPodmanSocket = '/run/podman/podman.sock';

export interface PodmanRuntimeOptions {
  /** Podman's API socket, as served by `podman system service`. */
  socketPath?: string;
  /** See LibpodClientOptions.apiVersion. */
  apiVersion?: string;
  /**
   * What pullImage does when the image is already present. `missing` (the
   * default) uses it without asking a registry, so a device keeps working
   * offline and local images need no registry at all; releases pin images by
   * digest, so a present image is the right one.
   */
  pullPolicy?: 'missing' | 'newer' | 'always';
}

const states: Record<string, ContainerState> = {
  configured: 'created',
  created: 'created',
  initialized: 'created',
  running: 'running',
  // Still running until the engine reports it stopped; stopping again is harmless.
  stopping: 'running',
  paused: 'paused',
  exited: 'exited',
  stopped: 'stopped',
};

function codeFor(error: LibpodError): RuntimeErrorCode {
  if (error.status === undefined) return 'engine_unavailable';
  // Podman answers 500 for several of these, so its words decide.
  if (error.status === 404 || /no such|not known|not found/i.test(error.message)) {
    return 'not_found';
  }
  if (error.status === 409 || /already in use|already exists|state improper/i.test(error.message)) {
    return 'conflict';
  }
  return 'engine_failed';
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function toContainerInfo(entry: Record<string, unknown>): ContainerInfo {
  const state = states[text(entry['State']) ?? ''] ?? 'unknown';
  const names = Array.isArray(entry['Names']) ? entry['Names'] : [];
  const labels: Record<string, string> = {};
  if (isRecord(entry['Labels'])) {
    for (const [key, value] of Object.entries(entry['Labels'])) {
      if (typeof value === 'string') labels[key] = value;
    }
  }
  const info: ContainerInfo = {
    id: text(entry['Id']) ?? '',
    name: text(names[0]) ?? '',
    image: text(entry['Image']) ?? '',
    state,
    labels,
  };
  const started = entry['StartedAt'];
  // Podman reports "never started" as year 1 in Unix seconds, which is negative.
  if (typeof started === 'number' && started > 0) {
    info.startedAt = new Date(started * 1000).toISOString();
  }
  if ((state === 'exited' || state === 'stopped') && typeof entry['ExitCode'] === 'number') {
    info.exitCode = entry['ExitCode'];
  }
  return info;
}

/** ContainerRuntime over Podman's libpod REST API on its unix socket. */
export class PodmanRuntime implements ContainerRuntime {
  readonly kind = 'podman';
  readonly socketPath: string;
  private readonly client: LibpodClient;
  private readonly pullPolicy: NonNullable<PodmanRuntimeOptions['pullPolicy']>;

  constructor(options: PodmanRuntimeOptions = {}) {
    this.socketPath = options.socketPath ?? defaultPodmanSocket;
    this.client = new LibpodClient({
      socketPath: this.socketPath,
      ...(options.apiVersion === undefined ? {} : { apiVersion: options.apiVersion }),
    });
    this.pullPolicy = options.pullPolicy ?? 'missing';
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.attempt('reach the engine at', `"${this.socketPath}"`, signal, () =>
      this.client.call('GET', '/_ping', { signal }),
    );
  }

  async listContainers(signal?: AbortSignal): Promise<ContainerInfo[]> {
    return this.attempt('list', 'containers', signal, async () => {
      const { body } = await this.client.call('GET', '/containers/json', {
        query: { all: true, filters: JSON.stringify({ label: [managedLabel] }) },
        signal,
      });
      if (!Array.isArray(body)) throw new LibpodError(200, 'the answer is not a list');
      return body.filter(isRecord).map(toContainerInfo);
    });
  }

  async hasImage(reference: string, signal?: AbortSignal): Promise<boolean> {
    return this.attempt('inspect image', `"${reference}"`, signal, async () => {
      try {
        await this.client.call('GET', `/images/${encodeURIComponent(reference)}/exists`, {
          signal,
        });
        return true;
      } catch (error) {
        if (error instanceof LibpodError && error.status === 404) return false;
        throw error;
      }
    });
  }

  async pullImage(
    reference: string,
    onProgress?: (progress: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.attempt(
      'pull image',
      `"${reference}"`,
      signal,
      async () => {
        const response = await this.client.stream('POST', '/images/pull', {
          query: { reference, policy: this.pullPolicy, quiet: false },
          signal,
        });
        let pulled: string | undefined;
        // Podman answers 200 before it knows the outcome; failures arrive in the stream.
        for await (const line of readJsonLines(response)) {
          if (!isRecord(line)) continue;
          const error = text(line['error']);
          if (error !== undefined) throw new LibpodError(200, error);
          const detail = text(line['stream'])?.trim();
          if (detail !== undefined && detail !== '') onProgress?.({ detail });
          pulled = text(line['id']) ?? pulled;
        }
        if (pulled === undefined) throw new LibpodError(200, 'the pull ended without an image');
        onProgress?.({ percent: 100, detail: `image ${pulled.slice(0, 12)} ready` });
      },
      (error) => (error.status === undefined ? 'engine_unavailable' : 'pull_failed'),
    );
  }

  async createContainer(spec: ContainerSpec, signal?: AbortSignal): Promise<string> {
    for (const volume of spec.volumes) {
      if (isNamedVolume(volume.source)) await this.ensureVolume(volume.source, signal);
    }
    return this.attempt(
      'create container',
      `"${spec.name}" from image "${spec.image}"`,
      signal,
      async () => {
        const { body } = await this.client.call('POST', '/containers/create', {
          body: toSpecGenerator(spec),
          signal,
        });
        const id = isRecord(body) ? text(body['Id']) : undefined;
        if (id === undefined) throw new LibpodError(201, 'the answer names no container id');
        return id;
      },
    );
  }

  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    // 304 means it already runs, which is what the caller wants.
    await this.attempt('start container', `"${id}"`, signal, () =>
      this.client.call('POST', `/containers/${encodeURIComponent(id)}/start`, { signal }),
    );
  }

  async stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    await this.attempt('stop container', `"${id}"`, signal, () =>
      this.client.call('POST', `/containers/${encodeURIComponent(id)}/stop`, {
        query: { timeout: Math.max(0, Math.round(timeoutSeconds)) },
        signal,
      }),
    );
  }

  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.attempt('remove container', `"${id}"`, signal, async () => {
      try {
        // v=true drops the container's anonymous volumes; named ones always stay.
        const { body } = await this.client.call('DELETE', `/containers/${encodeURIComponent(id)}`, {
          query: { v: true },
          signal,
        });
        const failure = Array.isArray(body)
          ? body.filter(isRecord).map((report) => text(report['Err']) ?? '')
          : [];
        const message = failure.find((err) => err !== '');
        if (message !== undefined) throw new LibpodError(500, message);
      } catch (error) {
        if (error instanceof LibpodError && codeFor(error) === 'not_found') return;
        throw error;
      }
    });
  }

  async *logs(
    id: string,
    options: { since?: string; follow: boolean; signal?: AbortSignal },
  ): AsyncGenerator<LogEntry> {
    const { signal } = options;
    try {
      const response = await this.client.stream(
        'GET',
        `/containers/${encodeURIComponent(id)}/logs`,
        {
          query: {
            stdout: true,
            stderr: true,
            timestamps: true,
            follow: options.follow,
            since: options.since,
          },
          signal,
        },
      );
      try {
        yield* logEntries(demultiplexLogs(response));
      } finally {
        response.destroy();
      }
    } catch (error) {
      // Following ends when the caller aborts; that is the normal way out.
      if (signal?.aborted === true) return;
      throw this.wrap('read logs of container', `"${id}"`, signal, error);
    }
  }

  private async ensureVolume(name: string, signal: AbortSignal | undefined): Promise<void> {
    await this.attempt('create volume', `"${name}"`, signal, async () => {
      try {
        await this.client.call('GET', `/volumes/${encodeURIComponent(name)}/exists`, { signal });
        return;
      } catch (error) {
        if (!(error instanceof LibpodError && error.status === 404)) throw error;
      }
      try {
        await this.client.call('POST', '/volumes/create', {
          body: { Name: name, Label: { [managedLabel]: 'true' } },
          signal,
        });
      } catch (error) {
        // Another create won the race; the volume is there, which is all we need.
        if (error instanceof LibpodError && /already exists/i.test(error.message)) return;
        throw error;
      }
    });
  }

  private async attempt<T>(
    operation: string,
    subject: string,
    signal: AbortSignal | undefined,
    work: () => Promise<T>,
    classify: (error: LibpodError) => RuntimeErrorCode = codeFor,
  ): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.wrap(operation, subject, signal, error, classify);
    }
  }

  private wrap(
    operation: string,
    subject: string,
    signal: AbortSignal | undefined,
    error: unknown,
    classify: (error: LibpodError) => RuntimeErrorCode = codeFor,
  ): unknown {
    // Callers test for the reason they aborted with, not for Node's own AbortError.
    if (signal?.aborted === true) return signal.reason;
    if (error instanceof ContainerRuntimeError) return error;
    const code = error instanceof LibpodError ? classify(error) : 'engine_failed';
    const detail = error instanceof Error ? error.message : String(error);
    return new ContainerRuntimeError(
      { engine: 'podman', operation, subject, code, detail },
      { cause: error },
    );
  }
}
