import { createHash } from 'node:crypto';
import type { DesiredStateMessage } from '@flock/protocol';
import {
  type ContainerSpec,
  managedLabel,
  releaseLabel,
  serviceLabel,
  specHashLabel,
} from '../runtime/container-runtime.js';
import {
  type Field,
  readCommand,
  readEnvironment,
  readLabels,
  readPorts,
  readRestart,
  readVolumes,
} from './compose-fields.js';

export interface TargetService {
  name: string;
  spec: ContainerSpec;
  /** The spec's hash: a container with another hash is recreated. */
  hash: string;
}

/** What the device should run, derived from the desired state without I/O. */
export interface TargetState {
  releaseId: string | null;
  services: TargetService[];
  /** Services the release describes in a way the agent cannot run, with why. */
  invalid: Array<{ name: string; problem: string }>;
}

export const emptyTarget: TargetState = { releaseId: null, services: [], invalid: [] };

/**
 * Turns the release's normalised compose and the device's environment into
 * one ContainerSpec per service. Variables from `desired.environment[service]`
 * win over the compose file's; a compose variable without a value is left
 * out unless the device defines it.
 */
export function targetFromDesired(desired: DesiredStateMessage | undefined): TargetState {
  const release = desired?.release;
  if (desired === undefined || release === null || release === undefined) return emptyTarget;
  const rawServices = (release.compose as { services?: unknown }).services;
  if (typeof rawServices !== 'object' || rawServices === null) {
    return {
      releaseId: release.id,
      services: [],
      invalid: [{ name: '*', problem: 'the release has no services' }],
    };
  }
  const target: TargetState = { releaseId: release.id, services: [], invalid: [] };
  // Code-unit order, not localeCompare: the same on every device, and it
  // keeps ICU's collation tables (about 3 MiB resident) out of the agent.
  for (const [name, raw] of Object.entries(rawServices as Record<string, unknown>).sort(
    ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0),
  )) {
    const spec = serviceSpec(name, raw, release.id, desired.environment[name] ?? {});
    if (spec.ok) target.services.push(spec.value);
    else target.invalid.push({ name, problem: spec.problem });
  }
  return target;
}

function serviceSpec(
  name: string,
  raw: unknown,
  releaseId: string,
  deviceEnvironment: Record<string, string>,
): Field<TargetService> {
  if (typeof raw !== 'object' || raw === null)
    return { ok: false, problem: 'the service is not a mapping' };
  const service = raw as Record<string, unknown>;
  if (typeof service.image !== 'string' || service.image === '') {
    return { ok: false, problem: 'the service has no image' };
  }
  const environment = readEnvironment(service.environment);
  if (!environment.ok) return environment;
  const labels = readLabels(service.labels);
  if (!labels.ok) return labels;
  const command = readCommand(service.command, 'command');
  if (!command.ok) return command;
  const entrypoint = readCommand(service.entrypoint, 'entrypoint');
  if (!entrypoint.ok) return entrypoint;
  const ports = readPorts(service.ports);
  if (!ports.ok) return ports;
  const volumes = readVolumes(service.volumes, name);
  if (!volumes.ok) return volumes;
  const restart = readRestart(service.restart);
  if (!restart.ok) return restart;
  const merged: Record<string, string> = {};
  for (const [key, value] of Object.entries(environment.value))
    if (value !== null) merged[key] = value;
  Object.assign(merged, deviceEnvironment);

  const spec: Omit<ContainerSpec, 'name'> = {
    image: service.image,
    ...(command.value === undefined ? {} : { command: command.value }),
    ...(entrypoint.value === undefined ? {} : { entrypoint: entrypoint.value }),
    environment: sortKeys(merged),
    ports: ports.value,
    volumes: volumes.value,
    restart: restart.value,
    labels: sortKeys({ ...labels.value, [managedLabel]: 'true', [serviceLabel]: name }),
    ...(typeof service.network_mode === 'string' ? { networkMode: service.network_mode } : {}),
    ...(service.privileged === true ? { privileged: true } : {}),
  };
  // The release is left out of the hash: a service a new release does not
  // change keeps running instead of restarting for nothing.
  const hash = specHash(spec);
  return {
    ok: true,
    value: {
      name,
      hash,
      spec: {
        ...spec,
        name: `flock_${name}_${hash.slice(0, 12)}`,
        labels: { ...spec.labels, [releaseLabel]: releaseId, [specHashLabel]: hash },
      },
    },
  };
}

export function specHash(spec: Omit<ContainerSpec, 'name'>): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 32);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}
