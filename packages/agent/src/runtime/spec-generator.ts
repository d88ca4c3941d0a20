import type { ContainerSpec } from './container-runtime.js';

/** The part of libpod's SpecGenerator (POST /libpod/containers/create) the agent fills in. */
export interface SpecGenerator {
  name: string;
  image: string;
  command?: string[];
  entrypoint?: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  portmappings: { container_port: number; host_port?: number; protocol: string }[];
  /** Named volumes; podman's field names are capitalised here. */
  volumes: { Name: string; Dest: string; Options: string[] }[];
  /** OCI mounts, for host paths. */
  mounts: { destination: string; type: 'bind'; source: string; options: string[] }[];
  restart_policy: ContainerSpec['restart'];
  netns?: { nsmode: string; value?: string };
  networks?: Record<string, Record<string, never>>;
  privileged?: boolean;
}

/** A volume source that is not an absolute path names a volume. */
export function isNamedVolume(source: string): boolean {
  return !source.startsWith('/');
}

const namespaceModes = new Set(['host', 'none', 'bridge', 'private', 'slirp4netns', 'pasta']);

function network(mode: string | undefined): Pick<SpecGenerator, 'netns' | 'networks'> {
  if (mode === undefined || mode === '' || mode === 'default') return {};
  if (namespaceModes.has(mode)) return { netns: { nsmode: mode } };
  const joined = /^container:(.+)$/.exec(mode)?.[1];
  if (joined !== undefined) return { netns: { nsmode: 'container', value: joined } };
  const path = /^ns:(.+)$/.exec(mode)?.[1];
  if (path !== undefined) return { netns: { nsmode: 'path', value: path } };
  // Anything else is a user-defined network, which podman joins through a bridge.
  return { netns: { nsmode: 'bridge' }, networks: { [mode]: {} } };
}

export function toSpecGenerator(spec: ContainerSpec): SpecGenerator {
  const generator: SpecGenerator = {
    name: spec.name,
    image: spec.image,
    env: { ...spec.environment },
    labels: { ...spec.labels },
    portmappings: spec.ports.map((port) => ({
      container_port: port.container,
      // Without a host port podman picks a free one, as `-p 80` does.
      ...(port.host === undefined ? {} : { host_port: port.host }),
      protocol: port.protocol,
    })),
    volumes: spec.volumes
      .filter((volume) => isNamedVolume(volume.source))
      .map((volume) => ({
        Name: volume.source,
        Dest: volume.target,
        Options: volume.readOnly === true ? ['ro'] : [],
      })),
    mounts: spec.volumes
      .filter((volume) => !isNamedVolume(volume.source))
      .map((volume) => ({
        destination: volume.target,
        type: 'bind' as const,
        source: volume.source,
        options: ['rbind', volume.readOnly === true ? 'ro' : 'rw'],
      })),
    restart_policy: spec.restart,
    ...network(spec.networkMode),
  };
  if (spec.command !== undefined) generator.command = [...spec.command];
  if (spec.entrypoint !== undefined) generator.entrypoint = [...spec.entrypoint];
  if (spec.privileged === true) generator.privileged = true;
  return generator;
}
