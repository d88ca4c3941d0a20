import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  type Config,
  type Setting,
  type SettingKey,
  SettingProblem,
  settings,
} from './settings.js';

export interface ConfigProblem {
  /** Where the bad value came from: a flag, an environment variable or a file key. */
  setting: string;
  problem: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.setting}: ${p.problem}`).join('\n'));
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  flags?: Partial<Record<SettingKey, unknown>>;
  env?: Record<string, string | undefined>;
  readFile?: (path: string) => string;
}

interface Candidate {
  source: string;
  raw: unknown;
}

const keys = Object.keys(settings) as SettingKey[];

function flagName(setting: Setting<unknown>): string | undefined {
  return setting.flag?.split(' ')[0];
}

function readConfigFile(
  path: string,
  readFile: (path: string) => string,
  problems: ConfigProblem[],
): Record<string, unknown> {
  let content: unknown;
  try {
    content = parseYaml(readFile(path));
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    problems.push({ setting: `config file ${path}`, problem: `cannot be read: ${reason}` });
    return {};
  }
  if (content === null || content === undefined) return {};
  if (typeof content !== 'object' || Array.isArray(content)) {
    problems.push({ setting: `config file ${path}`, problem: 'must hold an object of settings' });
    return {};
  }
  const record = content as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(key in settings) || key === 'configFile') {
      problems.push({ setting: `${key} in ${path}`, problem: 'is not a setting' });
    }
  }
  return record;
}

function candidateFor(
  key: SettingKey,
  flags: Partial<Record<SettingKey, unknown>>,
  env: Record<string, string | undefined>,
  file: Record<string, unknown>,
  filePath: string | undefined,
): Candidate | undefined {
  const setting: Setting<unknown> = settings[key];
  if (flags[key] !== undefined) return { source: flagName(setting) ?? key, raw: flags[key] };
  for (const name of setting.env) {
    const value = env[name];
    if (value !== undefined && value !== '') return { source: name, raw: value };
  }
  if (filePath !== undefined && file[key] !== undefined) {
    return { source: `${key} in ${filePath}`, raw: file[key] };
  }
  return undefined;
}

function crossCheck(config: Record<SettingKey, unknown>, problems: ConfigProblem[]): void {
  if (config.s3Endpoint !== undefined && config.s3Bucket === undefined) {
    problems.push({ setting: 'S3_BUCKET', problem: 'is required when S3_ENDPOINT is set' });
  }
  if (config.oidcIssuer !== undefined && config.oidcAudience === undefined) {
    problems.push({
      setting: 'FLOCK_OIDC_AUDIENCE',
      problem: 'is required when FLOCK_OIDC_ISSUER is set',
    });
  }
  const ports = [
    ['FLOCK_HTTP_PORT', config.httpPort],
    ['FLOCK_MQTT_PORT', config.mqttPort],
    ['FLOCK_MQTT_WS_PORT', config.mqttWsPort],
  ] as const;
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [nameA, a] = ports[i]!;
      const [nameB, b] = ports[j]!;
      if (a !== 0 && a === b) {
        problems.push({ setting: nameB, problem: `must differ from ${nameA} (both are ${a})` });
      }
    }
  }
}

/** Parses and validates every setting once; throws a ConfigError naming each bad one. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const flags = sources.flags ?? {};
  const env = sources.env ?? {};
  const problems: ConfigProblem[] = [];

  const configFile = candidateFor('configFile', flags, env, {}, undefined);
  const filePath = configFile === undefined ? undefined : String(configFile.raw);
  const file =
    filePath === undefined
      ? {}
      : readConfigFile(filePath, sources.readFile ?? ((p) => readFileSync(p, 'utf8')), problems);

  const values = {} as Record<SettingKey, unknown>;
  for (const key of keys) {
    const setting: Setting<unknown> = settings[key];
    const candidate = candidateFor(key, flags, env, file, filePath);
    if (candidate === undefined) {
      values[key] = setting.default;
      continue;
    }
    try {
      values[key] = setting.parse(candidate.raw);
    } catch (error) {
      if (!(error instanceof SettingProblem)) throw error;
      problems.push({ setting: candidate.source, problem: error.message });
    }
  }
  if (problems.length === 0) crossCheck(values, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(values) as Config;
}
