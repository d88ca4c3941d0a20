import {
  type Check,
  type ComposeIssue,
  ComposeIssues,
  bool,
  isRecord,
  keyValueMap,
  listOf,
  matching,
  objectOf,
  scalarText,
  sortedObject,
  text,
} from './compose-checks.js';
import type { ComposeFile, ComposeNetwork, ComposeService, ComposeVolume } from './compose-file.js';
import { parseService } from './parse-service.js';
import { type ComposeNames, dependencyCycle } from './service-links.js';

export type ComposeParseResult =
  { ok: true; compose: ComposeFile } | { ok: false; issues: ComposeIssue[] };

/** Service, network and volume names: what compose accepts and a container name can carry. */
export const composeNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const projectName = matching(
  /^[a-z0-9][a-z0-9_-]*$/,
  'must be lower-case letters, digits, "-" and "_", starting with a letter or digit',
);

/** Top-level keys of the compose specification that a release cannot use, and why. */
const unsupportedTopLevel: Readonly<Record<string, string>> = {
  secrets: 'secrets are not supported yet; use secret fleet variables',
  configs: 'configs are not supported; use environment or a volume',
  include: 'a device has no other compose files; write the services out in full',
  models: 'models are not supported',
};

const labels = keyValueMap({ key: text, value: scalarText, withoutValue: '' });
const options = keyValueMap({ key: text, value: scalarText, withoutValue: '' });

const network = objectOf<ComposeNetwork>({
  name: text,
  driver: text,
  driver_opts: options,
  labels,
  internal: bool,
  enable_ipv6: bool,
  attachable: bool,
  external: bool,
  ipam: objectOf({
    driver: text,
    config: listOf(objectOf({ subnet: text, ip_range: text, gateway: text })),
    options,
  }),
});

const volume = objectOf<ComposeVolume>({
  name: text,
  driver: text,
  driver_opts: options,
  labels,
  external: bool,
});

/** A top-level mapping of named definitions, where `null` means all defaults. */
function definitions<T>(check: Check<T>, nullValue: T): Check<Record<string, T>> {
  return (value, path, issues) => {
    if (!isRecord(value)) return issues.add(path, 'must be a mapping from name to definition');
    const before = issues.list.length;
    const entries: [string, T][] = [];
    for (const [name, definition] of Object.entries(value)) {
      const at = [...path, name];
      if (!composeNamePattern.test(name)) {
        issues.add(at, 'must be a name of letters, digits, ".", "-" and "_"');
        continue;
      }
      const checked = definition === null ? nullValue : check(definition, at, issues);
      if (checked !== undefined) entries.push([name, checked]);
    }
    return issues.list.length > before ? undefined : sortedObject(entries);
  };
}

const networks = definitions(network, {});
const volumes = definitions(volume, {});

function namesOf(value: unknown): ReadonlySet<string> {
  return new Set(
    isRecord(value) ? Object.keys(value).filter((name) => composeNamePattern.test(name)) : [],
  );
}

/**
 * Validates a compose file (already parsed from YAML or JSON) against what a
 * Flock release may contain, and normalises it: `KEY=VALUE` lists become
 * mappings, keys are sorted, the obsolete `version` and `x-` extensions are
 * dropped, and `$$` becomes `$`. Every problem is reported, each at its path.
 * Server and agent share it, so both read a release the same way.
 */
export function parseCompose(input: unknown): ComposeParseResult {
  const issues = new ComposeIssues();
  if (!isRecord(input)) {
    issues.add([], 'must be a mapping with a services key');
    return { ok: false, issues: issues.list };
  }
  const names: ComposeNames = {
    services: namesOf(input.services),
    networks: namesOf(input.networks),
    volumes: namesOf(input.volumes),
  };
  const result: Partial<ComposeFile> = {};
  for (const [key, value] of Object.entries(input)) {
    if (key.startsWith('x-')) continue;
    switch (key) {
      case 'version':
        // Obsolete in the compose specification, and meaningless to Flock.
        if (typeof value !== 'string' && typeof value !== 'number') {
          issues.add(
            [key],
            'must be a string (it is ignored: the compose specification made it obsolete)',
          );
        }
        break;
      case 'name': {
        const name = projectName(value, [key], issues);
        if (name !== undefined) result.name = name;
        break;
      }
      case 'services': {
        const services = parseServices(value, names, issues);
        if (services !== undefined) result.services = services;
        break;
      }
      case 'networks': {
        const checked = networks(value, [key], issues);
        if (checked !== undefined) result.networks = checked;
        break;
      }
      case 'volumes': {
        const checked = volumes(value, [key], issues);
        if (checked !== undefined) result.volumes = checked;
        break;
      }
      default:
        issues.add(
          [key],
          Object.hasOwn(unsupportedTopLevel, key)
            ? `is not supported: ${unsupportedTopLevel[key]}`
            : 'is not a top-level key of a compose file (services, networks, volumes, name, version, x-*)',
        );
    }
  }
  if (!Object.hasOwn(input, 'services')) issues.add(['services'], 'is required');
  if (issues.list.length > 0 || result.services === undefined)
    return { ok: false, issues: issues.list };
  return { ok: true, compose: sortedObject(Object.entries(result)) as unknown as ComposeFile };
}

function parseServices(
  value: unknown,
  names: ComposeNames,
  issues: ComposeIssues,
): Record<string, ComposeService> | undefined {
  if (!isRecord(value))
    return issues.add(['services'], 'must be a mapping from service name to service');
  const entries = Object.entries(value);
  if (entries.length === 0) return issues.add(['services'], 'must define at least one service');
  const before = issues.list.length;
  const services: [string, ComposeService][] = [];
  for (const [name, definition] of entries) {
    const path = ['services', name];
    if (!composeNamePattern.test(name)) {
      issues.add(path, 'must be a service name of letters, digits, ".", "-" and "_"');
      continue;
    }
    const service = parseService(name, definition, path, names, issues);
    if (service !== undefined) services.push([name, service]);
  }
  if (issues.list.length > before) return undefined;
  const parsed = sortedObject(services);
  const cycle = dependencyCycle(parsed);
  if (cycle !== undefined) {
    return issues.add(
      ['services', cycle[0] ?? '', 'depends_on'],
      `services depend on each other in a cycle: ${cycle.join(' → ')}`,
    );
  }
  return parsed;
}
