/**
 * The container engine as the agent sees it. Implementations: Podman over its
 * libpod REST API, and a simulated runtime for the fleet simulator. Only
 * containers carrying `managedLabel` are the agent's; it never touches others.
 */
export const managedLabel = 'io.flock.managed';
export const serviceLabel = 'io.flock.service';
export const releaseLabel = 'io.flock.release';
/** Hash of the ContainerSpec the container was created from: a changed spec means recreate. */
export const specHashLabel = 'io.flock.spec-hash';

export interface PortMapping {
  container: number;
  host?: number;
  protocol: 'tcp' | 'udp';
}

export interface VolumeMount {
  /** A named volume (created on demand) or an absolute host path. */
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface ContainerSpec {
  /** Unique container name, e.g. `flock_web_3`. */
  name: string;
  image: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  ports: PortMapping[];
  volumes: VolumeMount[];
  restart: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  /** Always includes managedLabel, serviceLabel, releaseLabel and specHashLabel. */
  labels: Record<string, string>;
  networkMode?: string;
  privileged?: boolean;
}

export type ContainerState = 'created' | 'running' | 'paused' | 'exited' | 'stopped' | 'unknown';

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  state: ContainerState;
  exitCode?: number;
  startedAt?: string;
  labels: Record<string, string>;
}

export interface PullProgress {
  /** 0..100 when the engine reports it. */
  percent?: number;
  detail?: string;
}

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  timestamp: string;
  message: string;
}

export interface ContainerRuntime {
  readonly kind: 'podman' | 'simulated';
  /** Throws when the engine does not answer. */
  ping(signal?: AbortSignal): Promise<void>;
  /** The agent's containers (those with managedLabel), running or not. */
  listContainers(signal?: AbortSignal): Promise<ContainerInfo[]>;
  hasImage(reference: string, signal?: AbortSignal): Promise<boolean>;
  pullImage(
    reference: string,
    onProgress?: (progress: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Returns the new container's id. Creates named volumes it needs. */
  createContainer(spec: ContainerSpec, signal?: AbortSignal): Promise<string>;
  startContainer(id: string, signal?: AbortSignal): Promise<void>;
  /** Stops gracefully, killing after `timeoutSeconds`; a stopped container is fine. */
  stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void>;
  /** Removes a stopped container; a missing one is fine. */
  removeContainer(id: string, signal?: AbortSignal): Promise<void>;
  /** Log lines since `since` (ISO time), then new ones while `follow` until the signal aborts. */
  logs(
    id: string,
    options: { since?: string; follow: boolean; signal?: AbortSignal },
  ): AsyncIterable<LogEntry>;
}
