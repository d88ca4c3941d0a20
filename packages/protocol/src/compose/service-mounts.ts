import {
  type Check,
  bool,
  integer,
  isRecord,
  listOf,
  literal,
  matching,
  objectOf,
  oneOf,
  scalarText,
  text,
} from './compose-checks.js';
import type { ComposePortMapping, ComposeVolumeMount } from './compose-file.js';

const portRange = '\\d{1,5}(?:-\\d{1,5})?';
const hostIp = '(?:\\d{1,3}(?:\\.\\d{1,3}){3}|\\[[0-9a-fA-F:.]+\\])';
const shortPort = new RegExp(
  `^(?:(?:${hostIp}):)?(?:(${portRange})?:)?(${portRange})(?:/(?:tcp|udp|sctp))?$`,
);
const exposed = new RegExp(`^(${portRange})(?:/(?:tcp|udp|sctp))?$`);
const portSpec =
  'must be [host_ip:][published[-range]:]target[-range][/tcp|udp|sctp] with ports from 1 to 65535';

/** Whether every `a` or `a-b` in `ranges` is a real port or an ascending range of them. */
function validRanges(...ranges: (string | undefined)[]): boolean {
  return ranges.every((range) => {
    if (range === undefined) return true;
    const [low = 0, high = low] = range.split('-').map(Number);
    return low >= 1 && high <= 65535 && low <= high;
  });
}

const portMapping = objectOf<ComposePortMapping>(
  {
    target: integer(1, 65535),
    published: (value, path, issues) => {
      const published = scalarText(value, path, issues);
      if (published === undefined) return undefined;
      return new RegExp(`^${portRange}$`).test(published) && validRanges(published)
        ? published
        : issues.add(path, 'must be a port or a range of ports from 1 to 65535');
    },
    host_ip: text,
    protocol: oneOf(['tcp', 'udp']),
    mode: oneOf(['host', 'ingress']),
    name: text,
    app_protocol: text,
  },
  ['target'],
);

/** `ports:` in short (`"8080:80"`, `80`) or long syntax; numbers become strings. */
export const servicePorts = listOf<string | ComposePortMapping>((value, path, issues) => {
  if (isRecord(value)) return portMapping(value, path, issues);
  const port = scalarText(value, path, issues);
  if (port === undefined) return undefined;
  const match = shortPort.exec(port);
  return match !== null && validRanges(match[1], match[2]) ? port : issues.add(path, portSpec);
});

/** `expose:` ports of the container only; numbers become strings. */
export const serviceExpose = listOf<string>((value, path, issues) => {
  const port = scalarText(value, path, issues);
  if (port === undefined) return undefined;
  const match = exposed.exec(port);
  return match !== null && validRanges(match[1])
    ? port
    : issues.add(
        path,
        'must be a port or range of ports from 1 to 65535, with an optional /tcp|udp|sctp',
      );
});

const absolutePath = matching(/^\/.*$/, 'must be an absolute path');
const mountModes = new Set([
  'ro',
  'rw',
  'z',
  'Z',
  'shared',
  'slave',
  'private',
  'rshared',
  'rslave',
  'rprivate',
  'nocopy',
  'cached',
  'delegated',
  'consistent',
]);
const volumeName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * A mount source: an absolute host path (bind) or a volume the file declares.
 * A relative path names a directory next to the compose file, which a device
 * does not have.
 */
function checkSource(source: string, volumes: ReadonlySet<string>): string | undefined {
  if (source.startsWith('/')) return undefined;
  if (source.startsWith('.') || source.startsWith('~')) {
    return `${source} is relative to the compose file, which a device does not have; use an absolute host path or a named volume`;
  }
  if (!volumeName.test(source)) return `${source} is neither an absolute path nor a volume name`;
  if (!volumes.has(source))
    return `refers to volume ${source}, which the top-level volumes do not declare`;
  return undefined;
}

/** `volumes:` of a service; named volumes must be declared at the top level. */
export function serviceVolumes(
  volumes: ReadonlySet<string>,
): Check<(string | ComposeVolumeMount)[]> {
  const mount = objectOf<ComposeVolumeMount>(
    {
      type: oneOf(['volume', 'bind', 'tmpfs']),
      source: text,
      target: absolutePath,
      read_only: bool,
      bind: objectOf({
        propagation: oneOf(['shared', 'slave', 'private', 'rshared', 'rslave', 'rprivate']),
        create_host_path: bool,
        selinux: oneOf(['z', 'Z']),
      }),
      volume: objectOf({ nocopy: bool, subpath: text }),
      tmpfs: objectOf({ size: scalarText, mode: integer(0, 0o7777) }),
    },
    ['type', 'target'],
  );
  return listOf((value, path, issues) => {
    if (isRecord(value)) {
      const long = mount(value, path, issues);
      if (long === undefined || long.source === undefined) return long;
      if (long.type === 'tmpfs')
        return issues.add([...path, 'source'], 'a tmpfs mount has no source');
      const problem =
        long.type === 'bind'
          ? long.source.startsWith('/')
            ? undefined
            : 'a bind mount needs an absolute host path'
          : checkSource(long.source, volumes);
      return problem === undefined ? long : issues.add([...path, 'source'], problem);
    }
    const short = literal(value, path, issues);
    if (short === undefined) return undefined;
    const parts = short.split(':');
    const [first = '', second, mode] = parts;
    const target = second ?? first;
    if (parts.length > 3 || !target.startsWith('/')) {
      return issues.add(path, 'must be [source:]target[:mode] with an absolute target path');
    }
    const problem = second === undefined ? undefined : checkSource(first, volumes);
    if (problem !== undefined) return issues.add(path, problem);
    if (mode !== undefined && !mode.split(',').every((flag) => mountModes.has(flag))) {
      return issues.add(
        path,
        `has an unknown mode; use a comma list of ${[...mountModes].join(', ')}`,
      );
    }
    return short;
  });
}
