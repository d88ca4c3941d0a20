import {
  type Check,
  type ComposeIssues,
  type ComposePath,
  bool,
  integer,
  isRecord,
  keyValueMap,
  listOf,
  literal,
  matching,
  objectOf,
  scalarText,
  sortedObject,
  stringOrList,
  text,
} from './compose-checks.js';
import type { ComposeHealthcheck, ComposeService, RestartPolicy } from './compose-file.js';
import { pinnedImageProblem } from './image-reference.js';
import { type ComposeNames, dependsOn, networkMode, serviceNetworks } from './service-links.js';
import { serviceExpose, servicePorts, serviceVolumes } from './service-mounts.js';

/** Keys compose knows that a release cannot use, and what to do instead. */
const unsupported: Readonly<Record<string, string>> = {
  build: 'a release runs built images: build and push the image, then pin it by digest',
  env_file:
    'a device has no files next to the compose file; set environment (or fleet variables) instead',
  extends: 'a device has no other compose files; write the service out in full',
  secrets: 'secrets are not supported yet; use secret fleet variables',
  configs: 'configs are not supported; use environment or a volume',
  container_name: 'Flock names containers itself, so a release can replace them',
  deploy: 'swarm deploy settings do not apply to a device; use mem_limit, cpus and restart',
  links: 'links are legacy; services reach each other by name on their network',
  external_links: 'a device runs only this release; reach other containers through a network',
  volumes_from: 'share a named volume instead',
  scale: 'a device runs one container per service',
  profiles: 'every service of a release runs',
};

const duration = matching(
  /^(?:\d+(?:\.\d+)?(?:us|ms|s|m|h))+$/,
  'must be a duration like 30s, 1m30s or 500ms',
);
const byteSize: Check<string> = (value, path, issues) => {
  const size = scalarText(value, path, issues);
  if (size === undefined) return undefined;
  return /^\d+(?:\.\d+)?\s*[bkmg]?b?$/i.test(size)
    ? size
    : issues.add(path, 'must be a size like 512m, 1g or a number of bytes');
};
const stringList = listOf(text);
const restart: Check<RestartPolicy> = matching(
  /^(?:no|always|unless-stopped|on-failure(?::\d+)?)$/,
  'must be no, always, unless-stopped, on-failure or on-failure:<max retries>',
) as Check<RestartPolicy>;
const commandLine: Check<string | string[]> = (value, path, issues) =>
  typeof value === 'string' ? literal(value, path, issues) : listOf(literal)(value, path, issues);
const environmentName = matching(/^[^=\s]+$/, 'must be a variable name without = or spaces');
const labelKey = matching(/^[^=\s]+$/, 'must be a label key without = or spaces');

const healthcheck = objectOf<ComposeHealthcheck>({
  test: (test, at, found) => {
    if (typeof test === 'string') {
      const shell = text(test, at, found);
      return shell === undefined ? undefined : ['CMD-SHELL', shell];
    }
    const list = listOf(literal)(test, at, found);
    if (list === undefined) return undefined;
    return ['NONE', 'CMD', 'CMD-SHELL'].includes(list[0] ?? '')
      ? list
      : found.add(at, 'must be a string, or a list starting with NONE, CMD or CMD-SHELL');
  },
  interval: duration,
  timeout: duration,
  start_period: duration,
  start_interval: duration,
  retries: integer(0, 1_000_000),
  disable: bool,
});

const ulimits: Check<Record<string, number | { soft: number; hard: number }>> = (
  value,
  path,
  issues,
) => {
  if (!isRecord(value))
    return issues.add(path, 'must be a mapping from limit name to a number or { soft, hard }');
  const before = issues.list.length;
  const limit = integer(-1, Number.MAX_SAFE_INTEGER);
  const entries: [string, number | { soft: number; hard: number }][] = [];
  for (const [name, entry] of Object.entries(value)) {
    const at = [...path, name];
    if (!/^[a-z]+$/.test(name)) issues.add(at, 'must be a limit name like nofile or nproc');
    const checked = isRecord(entry)
      ? objectOf<{ soft: number; hard: number }>({ soft: limit, hard: limit }, ['soft', 'hard'])(
          entry,
          at,
          issues,
        )
      : limit(entry, at, issues);
    if (checked !== undefined) entries.push([name, checked]);
  }
  return issues.list.length > before ? undefined : sortedObject(entries);
};

const extraHosts: Check<string[]> = (value, path, issues) => {
  if (!isRecord(value)) return listOf(text)(value, path, issues);
  const hosts = keyValueMap({ key: text, value: text, withoutValue: '' })(value, path, issues);
  return hosts === undefined
    ? undefined
    : Object.entries(hosts).map(([host, ip]) => `${host}=${ip}`);
};

/** Every service key a release may use, and its check; `image` is checked apart. */
function serviceFields(
  name: string,
  names: ComposeNames,
): Readonly<Record<string, Check<unknown>>> {
  return {
    command: commandLine,
    entrypoint: commandLine,
    environment: keyValueMap<string | null>({
      key: environmentName,
      value: scalarText,
      withoutValue: null,
    }),
    labels: keyValueMap({ key: labelKey, value: scalarText, withoutValue: '' }),
    ports: servicePorts,
    expose: serviceExpose,
    volumes: serviceVolumes(names.volumes),
    restart,
    depends_on: dependsOn(name, names),
    networks: serviceNetworks(names),
    network_mode: networkMode(name, names),
    healthcheck,
    logging: objectOf({
      driver: text,
      options: keyValueMap({ key: text, value: scalarText, withoutValue: '' }),
    }),
    sysctls: keyValueMap({ key: text, value: scalarText, withoutValue: '' }),
    ulimits,
    extra_hosts: extraHosts,
    tmpfs: stringOrList(text),
    dns: stringOrList(text),
    dns_search: stringOrList(text),
    cap_add: listOf(text, { unique: true }),
    cap_drop: listOf(text, { unique: true }),
    devices: stringList,
    device_cgroup_rules: stringList,
    group_add: listOf(scalarText),
    security_opt: stringList,
    privileged: bool,
    read_only: bool,
    init: bool,
    tty: bool,
    stdin_open: bool,
    hostname: text,
    domainname: text,
    working_dir: matching(/^\/.*$/, 'must be an absolute path'),
    user: scalarText,
    stop_signal: matching(/^(?:SIG)?[A-Z0-9+-]+$/, 'must be a signal name like SIGTERM'),
    stop_grace_period: duration,
    pid: text,
    ipc: text,
    runtime: text,
    platform: text,
    shm_size: byteSize,
    mem_limit: byteSize,
    mem_reservation: byteSize,
    memswap_limit: byteSize,
    cpus: (value, path, issues) => {
      const cpus = typeof value === 'string' ? Number(value) : value;
      return typeof cpus === 'number' && Number.isFinite(cpus) && cpus > 0 && cpus <= 1024
        ? cpus
        : issues.add(path, 'must be a number of CPUs greater than 0, like 0.5');
    },
    cpu_shares: integer(2, 262_144),
    oom_score_adj: integer(-1000, 1000),
  };
}

/** One service: its image pinned by digest, every other key known and well-formed. */
export function parseService(
  name: string,
  value: unknown,
  path: ComposePath,
  names: ComposeNames,
  issues: ComposeIssues,
): ComposeService | undefined {
  if (!isRecord(value)) return issues.add(path, 'must be a mapping with at least an image');
  const before = issues.list.length;
  const fields = serviceFields(name, names);
  const entries: [string, unknown][] = [];
  for (const [key, entry] of Object.entries(value)) {
    const at = [...path, key];
    if (key.startsWith('x-')) continue;
    if (key === 'image') {
      const image = text(entry, at, issues);
      const problem = image === undefined ? undefined : pinnedImageProblem(image);
      if (problem !== undefined) issues.add(at, problem);
      else if (image !== undefined) entries.push([key, image]);
      continue;
    }
    const check = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (check === undefined) {
      issues.add(
        at,
        Object.hasOwn(unsupported, key)
          ? `is not supported: ${unsupported[key]}`
          : 'is not a service key Flock knows',
      );
      continue;
    }
    const checked = check(entry, at, issues);
    if (checked !== undefined) entries.push([key, checked]);
  }
  if (!Object.hasOwn(value, 'image')) {
    issues.add([...path, 'image'], 'is required: every service runs an image pinned by digest');
  }
  if (Object.hasOwn(value, 'network_mode') && Object.hasOwn(value, 'networks')) {
    issues.add([...path, 'network_mode'], 'cannot be set together with networks');
  }
  if (issues.list.length > before) return undefined;
  // The checks above produced each key's normalised shape, which is ComposeService.
  return sortedObject(entries) as unknown as ComposeService;
}
