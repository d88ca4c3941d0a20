import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AgentError } from '../agent-error.js';
import { errorMessage } from '../support/error-message.js';
import {
  type AgentConfig,
  configDefaults,
  defaultMqttUrl,
  type LogLevel,
  logLevels,
  type RuntimeKind,
  runtimeKinds,
} from './agent-config.js';

export interface ConfigProblem {
  /** The key as written in the file, dotted for nested ones: `tls.ca_file`. */
  key: string;
  problem: string;
}

export class ConfigError extends AgentError {
  constructor(readonly problems: ConfigProblem[]) {
    super('config_invalid', problems.map((p) => `${p.key}: ${p.problem}`).join('\n'));
  }
}

const knownKeys: Record<string, readonly string[] | true> = {
  api_url: true,
  mqtt_url: true,
  provisioning_key: true,
  data_dir: true,
  device_type: true,
  architecture: true,
  device_name: true,
  os_version: true,
  runtime: true,
  podman_socket: true,
  tls: ['ca_file', 'reject_unauthorized'],
  intervals: [
    'reconcile_seconds',
    'heartbeat_seconds',
    'telemetry_seconds',
    'log_batch_ms',
    'token_refresh_ratio',
  ],
  buffer: ['max_bytes', 'segment_bytes', 'fsync_ms'],
  reboot_command: true,
  stop_timeout_seconds: true,
  log_level: true,
};

/** Reads and validates the file at `path`; throws ConfigError naming every bad key. */
export function loadConfig(
  path: string,
  readFile = (p: string) => readFileSync(p, 'utf8'),
): AgentConfig {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    throw new ConfigError([{ key: path, problem: `cannot be read: ${errorMessage(error)}` }]);
  }
  let parsed: unknown;
  try {
    // YAML is a superset of JSON, so one parser reads both.
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError([
      { key: path, problem: `is not YAML or JSON: ${errorMessage(error).split('\n')[0]}` },
    ]);
  }
  return parseConfig(parsed ?? {});
}

/** Validates a parsed document; throws ConfigError naming every bad key. */
export function parseConfig(document: unknown): AgentConfig {
  const problems: ConfigProblem[] = [];
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ConfigError([{ key: '(file)', problem: 'must be a mapping of settings' }]);
  }
  const root = document as Record<string, unknown>;
  const reader = new Reader(problems);
  checkUnknownKeys(root, problems);
  const tls = reader.section(root, 'tls');
  const intervals = reader.section(root, 'intervals');
  const buffer = reader.section(root, 'buffer');

  const apiUrl = reader.url(root, 'api_url', ['http:', 'https:']);
  const mqttUrl = reader.url(root, 'mqtt_url', ['mqtt:', 'mqtts:', 'ws:', 'wss:'], true);
  const config: AgentConfig = {
    apiUrl: apiUrl?.replace(/\/+$/, '') ?? '',
    mqttUrl: mqttUrl ?? (apiUrl === undefined ? '' : defaultMqttUrl(apiUrl)),
    provisioningKey: reader.string(root, 'provisioning_key', true),
    dataDir: reader.path(root, 'data_dir') ?? configDefaults.dataDir,
    deviceType: reader.slug(root, 'device_type', 64) ?? '',
    architecture: reader.slug(root, 'architecture', 32) ?? '',
    deviceName: reader.string(root, 'device_name', true),
    osVersion: reader.string(root, 'os_version', true),
    runtime: reader.choice<RuntimeKind>(root, 'runtime', runtimeKinds) ?? configDefaults.runtime,
    podmanSocket: reader.path(root, 'podman_socket') ?? configDefaults.podmanSocket,
    tls: {
      caFile: reader.path(tls, 'ca_file', 'tls.'),
      rejectUnauthorized:
        reader.boolean(tls, 'reject_unauthorized', 'tls.') ?? configDefaults.rejectUnauthorized,
    },
    intervals: {
      reconcileSeconds:
        reader.number(intervals, 'reconcile_seconds', 0.05, 3_600, 'intervals.') ??
        configDefaults.reconcileSeconds,
      heartbeatSeconds:
        reader.number(intervals, 'heartbeat_seconds', 1, 86_400, 'intervals.') ??
        configDefaults.heartbeatSeconds,
      telemetrySeconds:
        reader.number(intervals, 'telemetry_seconds', 1, 86_400, 'intervals.') ??
        configDefaults.telemetrySeconds,
      logBatchMs:
        reader.number(intervals, 'log_batch_ms', 10, 60_000, 'intervals.') ??
        configDefaults.logBatchMs,
      tokenRefreshRatio:
        reader.number(intervals, 'token_refresh_ratio', 0.1, 0.95, 'intervals.') ??
        configDefaults.tokenRefreshRatio,
    },
    buffer: {
      maxBytes:
        reader.number(buffer, 'max_bytes', 64 * 1024, 2 ** 40, 'buffer.') ??
        configDefaults.bufferMaxBytes,
      segmentBytes:
        reader.number(buffer, 'segment_bytes', 4 * 1024, 64 * 1024 * 1024, 'buffer.') ??
        configDefaults.bufferSegmentBytes,
      fsyncMs:
        reader.number(buffer, 'fsync_ms', 0, 10_000, 'buffer.') ?? configDefaults.bufferFsyncMs,
    },
    rebootCommand: reader.string(root, 'reboot_command', true) ?? configDefaults.rebootCommand,
    stopTimeoutSeconds:
      reader.number(root, 'stop_timeout_seconds', 0, 3_600) ?? configDefaults.stopTimeoutSeconds,
    logLevel: reader.choice<LogLevel>(root, 'log_level', logLevels) ?? configDefaults.logLevel,
  };
  if (config.buffer.segmentBytes > config.buffer.maxBytes) {
    problems.push({ key: 'buffer.segment_bytes', problem: 'must not exceed buffer.max_bytes' });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function checkUnknownKeys(root: Record<string, unknown>, problems: ConfigProblem[]): void {
  for (const [key, value] of Object.entries(root)) {
    const known = knownKeys[key];
    if (known === undefined) {
      problems.push({ key, problem: 'is not a setting flockd knows' });
    } else if (known !== true && typeof value === 'object' && value !== null) {
      for (const inner of Object.keys(value)) {
        if (!known.includes(inner))
          problems.push({ key: `${key}.${inner}`, problem: 'is not a setting flockd knows' });
      }
    }
  }
}

class Reader {
  constructor(private readonly problems: ConfigProblem[]) {}

  section(root: Record<string, unknown>, key: string): Record<string, unknown> {
    const value = root[key];
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.problems.push({ key, problem: 'must be a mapping' });
      return {};
    }
    return value as Record<string, unknown>;
  }

  string(
    source: Record<string, unknown>,
    key: string,
    optional: boolean,
    prefix = '',
  ): string | undefined {
    const value = source[key];
    if (value === undefined || value === null) {
      if (!optional) this.problems.push({ key: prefix + key, problem: 'is required' });
      return undefined;
    }
    if (typeof value !== 'string' || value.trim() === '') {
      this.problems.push({ key: prefix + key, problem: 'must be a non-empty string' });
      return undefined;
    }
    return value;
  }

  url(
    source: Record<string, unknown>,
    key: string,
    protocols: string[],
    optional = false,
  ): string | undefined {
    const value = this.string(source, key, optional);
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.problems.push({ key, problem: `${JSON.stringify(value)} is not a URL` });
      return undefined;
    }
    if (!protocols.includes(url.protocol)) {
      this.problems.push({
        key,
        problem: `must start with ${protocols.map((p) => `${p}//`).join(', ')}`,
      });
      return undefined;
    }
    return value;
  }

  path(source: Record<string, unknown>, key: string, prefix = ''): string | undefined {
    const value = this.string(source, key, true, prefix);
    if (value !== undefined && !isAbsolute(value)) {
      this.problems.push({ key: prefix + key, problem: 'must be an absolute path' });
      return undefined;
    }
    return value;
  }

  slug(source: Record<string, unknown>, key: string, maxLength: number): string | undefined {
    const value = this.string(source, key, false);
    if (
      value !== undefined &&
      (value.length > maxLength || !/^[a-z0-9][a-z0-9._-]*$/.test(value))
    ) {
      this.problems.push({
        key,
        problem: `must be lower-case letters, digits, '.', '_' or '-' (at most ${maxLength})`,
      });
      return undefined;
    }
    return value;
  }

  choice<T extends string>(
    source: Record<string, unknown>,
    key: string,
    choices: readonly T[],
  ): T | undefined {
    const value = source[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
      this.problems.push({ key, problem: `must be one of ${choices.join(', ')}` });
      return undefined;
    }
    return value as T;
  }

  boolean(source: Record<string, unknown>, key: string, prefix = ''): boolean | undefined {
    const value = source[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') {
      this.problems.push({ key: prefix + key, problem: 'must be true or false' });
      return undefined;
    }
    return value;
  }

  number(
    source: Record<string, unknown>,
    key: string,
    min: number,
    max: number,
    prefix = '',
  ): number | undefined {
    const value = source[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.problems.push({ key: prefix + key, problem: `must be a number from ${min} to ${max}` });
      return undefined;
    }
    return value;
  }
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const inner of Object.values(value)) {
    if (typeof inner === 'object' && inner !== null) deepFreeze(inner as object);
  }
  return Object.freeze(value);
}
