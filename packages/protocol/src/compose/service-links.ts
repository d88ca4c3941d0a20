import {
  type Check,
  type ComposePath,
  type ComposeIssues,
  bool,
  integer,
  isRecord,
  listOf,
  objectOf,
  oneOf,
  sortedObject,
  text,
} from './compose-checks.js';
import type { ComposeDependency, ComposeServiceNetwork } from './compose-file.js';

/** Names the file declares, which services may refer to. */
export interface ComposeNames {
  services: ReadonlySet<string>;
  networks: ReadonlySet<string>;
  volumes: ReadonlySet<string>;
}

/**
 * A list of names (`[db, cache]`) or a mapping from name to options, as
 * compose allows for `depends_on` and `networks`; always a mapping after.
 */
function namedMap<T>(
  known: (name: string, path: ComposePath, issues: ComposeIssues) => boolean,
  options: Check<T>,
  whenListed: T,
): Check<Record<string, T>> {
  return (value, path, issues) => {
    const before = issues.list.length;
    const entries: [string, T][] = [];
    if (Array.isArray(value)) {
      const names = listOf(text, { unique: true })(value, path, issues) ?? [];
      names.forEach((name, index) => {
        if (known(name, [...path, index], issues)) entries.push([name, whenListed]);
      });
    } else if (isRecord(value)) {
      for (const [name, entry] of Object.entries(value)) {
        const at = [...path, name];
        const checked = entry === null ? whenListed : options(entry, at, issues);
        if (known(name, at, issues) && checked !== undefined) entries.push([name, checked]);
      }
    } else {
      return issues.add(path, 'must be a list of names or a mapping');
    }
    return issues.list.length > before ? undefined : sortedObject(entries);
  };
}

const dependency = objectOf<ComposeDependency>({
  condition: oneOf(['service_started', 'service_healthy', 'service_completed_successfully']),
  restart: bool,
  required: bool,
});

/** `depends_on:` of service `self`, normalised to `{ name: { condition } }`. */
export function dependsOn(
  self: string,
  names: ComposeNames,
): Check<Record<string, ComposeDependency>> {
  return namedMap(
    (name, path, issues) => {
      if (name === self) return issues.add(path, 'a service cannot depend on itself') ?? false;
      if (!names.services.has(name))
        return (
          issues.add(path, `refers to service ${name}, which this file does not define`) ?? false
        );
      return true;
    },
    (value, path, issues) => {
      const checked = dependency(value, path, issues);
      return checked === undefined
        ? undefined
        : { ...checked, condition: checked.condition ?? 'service_started' };
    },
    { condition: 'service_started' },
  );
}

const serviceNetwork = objectOf<ComposeServiceNetwork>({
  aliases: listOf(text),
  ipv4_address: text,
  ipv6_address: text,
  priority: integer(-1_000_000, 1_000_000),
});

/** `networks:` of a service, normalised to a mapping; `default` always exists. */
export function serviceNetworks(names: ComposeNames): Check<Record<string, ComposeServiceNetwork>> {
  return namedMap(
    (name, path, issues) =>
      name === 'default' || names.networks.has(name)
        ? true
        : (issues.add(
            path,
            `refers to network ${name}, which the top-level networks do not declare`,
          ) ?? false),
    serviceNetwork,
    {},
  );
}

/** `network_mode:`; `service:<name>` must name a service of this file. */
export function networkMode(self: string, names: ComposeNames): Check<string> {
  return (value, path, issues) => {
    const mode = text(value, path, issues);
    if (mode === undefined) return undefined;
    if (mode === 'host' || mode === 'none' || mode === 'bridge') return mode;
    const service = /^service:(.+)$/.exec(mode)?.[1];
    if (service === undefined) {
      return issues.add(path, 'must be host, none, bridge or service:<name>');
    }
    if (service === self || !names.services.has(service)) {
      return issues.add(
        path,
        `refers to service ${service}, which is not another service of this file`,
      );
    }
    return mode;
  };
}

/** The first `depends_on` cycle, as the path of service names around it. */
export function dependencyCycle(
  services: Readonly<Record<string, { depends_on?: Record<string, unknown> }>>,
): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'visiting') return [...trail.slice(trail.indexOf(name)), name];
    state.set(name, 'visiting');
    for (const next of Object.keys(services[name]?.depends_on ?? {})) {
      const cycle = visit(next, [...trail, name]);
      if (cycle !== undefined) return cycle;
    }
    state.set(name, 'done');
    return undefined;
  };
  for (const name of Object.keys(services)) {
    const cycle = visit(name, []);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}
