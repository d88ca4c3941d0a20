import type { ContainerSpec, PortMapping, VolumeMount } from '../runtime/container-runtime.js';

/**
 * Readers for the compose fields the agent runs, tolerant of both syntaxes
 * compose allows (the server stores the normalised one, maps not lists, but
 * a device must not crash on an older or hand-written release). Each
 * returns a problem string instead of throwing, for the service's error.
 */

export type Field<T> = { ok: true; value: T } | { ok: false; problem: string };

const ok = <T>(value: T): Field<T> => ({ ok: true, value });
const bad = <T>(problem: string): Field<T> => ({ ok: false, problem });

export function readEnvironment(raw: unknown): Field<Record<string, string | null>> {
  if (raw === undefined || raw === null) return ok({});
  const result: Record<string, string | null> = {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      if (typeof entry !== 'string') return bad('environment entries must be strings');
      const at = entry.indexOf('=');
      if (at === -1) result[entry] = null;
      else result[entry.slice(0, at)] = entry.slice(at + 1);
    }
    return ok(result);
  }
  if (typeof raw !== 'object') return bad('environment must be a map or a list');
  for (const [key, value] of Object.entries(raw)) {
    if (value === null || value === undefined) result[key] = null;
    else if (['string', 'number', 'boolean'].includes(typeof value)) result[key] = String(value);
    else return bad(`environment ${key} must be a string`);
  }
  return ok(result);
}

export function readLabels(raw: unknown): Field<Record<string, string>> {
  const environment = readEnvironment(raw);
  if (!environment.ok) return bad(environment.problem.replace('environment', 'labels'));
  return ok(Object.fromEntries(Object.entries(environment.value).map(([k, v]) => [k, v ?? ''])));
}

/** A string is split like a shell would (quotes, backslashes), as compose does. */
export function readCommand(raw: unknown, field: string): Field<string[] | undefined> {
  if (raw === undefined || raw === null) return ok(undefined);
  if (Array.isArray(raw) && raw.every((part) => typeof part === 'string')) return ok(raw);
  if (typeof raw !== 'string') return bad(`${field} must be a string or a list of strings`);
  const words: string[] = [];
  let current = '';
  let quote: '"' | "'" | undefined;
  let inWord = false;
  for (let i = 0; i < raw.length; i += 1) {
    const char = raw[i]!;
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else current += char;
    } else if (char === '\\' && i + 1 < raw.length && quote === undefined) {
      current += raw[++i];
      inWord = true;
    } else if (quote === '"') {
      if (char === '"') quote = undefined;
      else if (char === '\\' && i + 1 < raw.length && '"\\$`'.includes(raw[i + 1]!))
        current += raw[++i];
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += char;
      inWord = true;
    }
  }
  if (quote !== undefined) return bad(`${field} has an unterminated quote`);
  if (inWord) words.push(current);
  return ok(words);
}

export function readPorts(raw: unknown): Field<PortMapping[]> {
  if (raw === undefined || raw === null) return ok([]);
  if (!Array.isArray(raw)) return bad('ports must be a list');
  const ports: PortMapping[] = [];
  for (const entry of raw) {
    if (typeof entry === 'number') {
      ports.push({ container: entry, protocol: 'tcp' });
    } else if (typeof entry === 'string') {
      const match =
        /^(?:(?:\[[^\]]+\]|\d+\.[\d.]+):)?(?:(\d+)(?:-(\d+))?:)?(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(
          entry,
        );
      if (match === null)
        return bad(`port ${JSON.stringify(entry)} is not [host:]container[/protocol]`);
      const [, hostFrom, hostTo, containerFrom, containerTo, protocol] = match;
      const count = Number(containerTo ?? containerFrom) - Number(containerFrom) + 1;
      if (count < 1 || count > 1000) return bad(`port range ${entry} is invalid`);
      for (let i = 0; i < count; i += 1) {
        const host =
          hostFrom === undefined ? undefined : Number(hostFrom) + (hostTo === undefined ? 0 : i);
        ports.push({
          container: Number(containerFrom) + i,
          ...(host === undefined ? {} : { host }),
          protocol: protocol === 'udp' ? 'udp' : 'tcp',
        });
      }
    } else if (typeof entry === 'object' && entry !== null) {
      const { target, published, protocol } = entry as Record<string, unknown>;
      if (typeof target !== 'number') return bad('a long-syntax port needs a numeric target');
      const host =
        published === undefined || published === null
          ? undefined
          : Number(String(published).split('-')[0]);
      if (host !== undefined && !Number.isInteger(host))
        return bad(`port ${String(published)} is not a number`);
      ports.push({
        container: target,
        ...(host === undefined ? {} : { host }),
        protocol: protocol === 'udp' ? 'udp' : 'tcp',
      });
    } else {
      return bad('ports must be strings or mappings');
    }
  }
  return ok(ports);
}

/**
 * Named volumes get a `flock_` prefix so they never collide with volumes
 * someone made by hand on the host; anonymous ones get a stable name per
 * service and path, so their data survives an update like a named one.
 */
export function readVolumes(raw: unknown, service: string): Field<VolumeMount[]> {
  if (raw === undefined || raw === null) return ok([]);
  if (!Array.isArray(raw)) return bad('volumes must be a list');
  const mounts: VolumeMount[] = [];
  const named = (source: string) => (source.startsWith('/') ? source : `flock_${source}`);
  const anonymous = (target: string) =>
    `flock_${service}${target.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  for (const entry of raw) {
    if (typeof entry === 'string') {
      const parts = entry.split(':');
      if (parts.length === 1) mounts.push({ source: anonymous(parts[0]!), target: parts[0]! });
      else {
        const [source, target, mode] = parts;
        if (!source || !target)
          return bad(`volume ${JSON.stringify(entry)} is not source:target[:mode]`);
        mounts.push({
          source: named(source),
          target,
          ...(mode?.split(',').includes('ro') ? { readOnly: true } : {}),
        });
      }
    } else if (typeof entry === 'object' && entry !== null) {
      const { type, source, target, read_only: readOnly } = entry as Record<string, unknown>;
      if (typeof target !== 'string') return bad('a long-syntax volume needs a target');
      if (type === 'tmpfs') continue;
      const from = typeof source === 'string' && source !== '' ? named(source) : anonymous(target);
      mounts.push({ source: from, target, ...(readOnly === true ? { readOnly: true } : {}) });
    } else {
      return bad('volumes must be strings or mappings');
    }
  }
  return ok(mounts);
}

/** Compose's default is `no`; a device has nobody to restart a crashed service, so `always`. */
export function readRestart(raw: unknown): Field<ContainerSpec['restart']> {
  if (raw === undefined || raw === null) return ok('always');
  if (raw === 'no' || raw === 'always' || raw === 'unless-stopped' || raw === 'on-failure')
    return ok(raw);
  if (typeof raw === 'string' && /^on-failure:\d+$/.test(raw)) return ok('on-failure');
  return bad(`restart ${JSON.stringify(raw)} is not no, always, unless-stopped or on-failure`);
}
