/** Where in the compose file: object keys and array indexes from the root. */
export type ComposePath = readonly (string | number)[];

export interface ComposeIssue {
  path: ComposePath;
  message: string;
}

/**
 * Collects every problem of a file, so one answer lists them all. Checks
 * return the normalised value, or undefined after recording why not.
 */
export class ComposeIssues {
  readonly list: ComposeIssue[] = [];

  add(path: ComposePath, message: string): undefined {
    this.list.push({ path, message });
    return undefined;
  }
}

/** Normalises a value found at `path`, or records why it cannot. */
export type Check<T> = (value: unknown, path: ComposePath, issues: ComposeIssues) => T | undefined;

/**
 * A plain object. Parsed YAML can hold other objects (binary tags become
 * Uint8Array), which must not pass for a mapping.
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** PostgreSQL cannot store NUL in text or jsonb, and a lone surrogate does not survive UTF-8. */
const loneSurrogate = /\p{Cs}/u;
const dollar = /\$(\$|\{[^}]*\}?|[A-Za-z_][A-Za-z0-9_]*)?/g;

/**
 * A string without interpolation. Compose would replace `$VAR` and `${VAR}`
 * from the shell of whoever runs it; a fleet has no such shell, so they are
 * refused rather than silently left in. `$$`, compose's escape for a literal
 * `$`, stays as written so a stored file still means the same to any compose
 * tool, and parsing it again changes nothing; `unescapeComposeString` turns it
 * into what the container gets.
 */
export const literal: Check<string> = (value, path, issues) => {
  if (typeof value !== 'string') return issues.add(path, 'must be a string');
  if (value.includes('\u0000') || loneSurrogate.test(value)) {
    return issues.add(path, 'must not contain NUL characters or unpaired surrogates');
  }
  for (const [match, what] of value.matchAll(dollar)) {
    if (what !== undefined && what !== '$') {
      return issues.add(
        path,
        `${match} asks for variable interpolation, which Flock does not do: set environment values directly (or as fleet variables), or write $$ for a literal $`,
      );
    }
  }
  return value;
};

/** What a string of a stored compose file means to the container: `$$` is `$`. */
export function unescapeComposeString(value: string): string {
  return value.replaceAll('$$', '$');
}

/** A literal string that is not empty. */
export const text: Check<string> = (value, path, issues) => {
  const result = literal(value, path, issues);
  if (result === '') return issues.add(path, 'must not be empty');
  return result;
};

/** A string or a number, as a string: compose accepts `8080` and `"8080"` alike. */
export const scalarText: Check<string> = (value, path, issues) => {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? String(value) : issues.add(path, 'must be a finite number');
  }
  if (typeof value === 'boolean') return String(value);
  return literal(value, path, issues);
};

export const bool: Check<boolean> = (value, path, issues) =>
  typeof value === 'boolean' ? value : issues.add(path, 'must be true or false');

export function integer(minimum: number, maximum: number): Check<number> {
  return (value, path, issues) =>
    typeof value === 'number' && Number.isInteger(value) && value >= minimum && value <= maximum
      ? value
      : issues.add(path, `must be an integer from ${minimum} to ${maximum}`);
}

export function oneOf<const T extends string>(allowed: readonly T[]): Check<T> {
  return (value, path, issues) =>
    typeof value === 'string' && (allowed as readonly string[]).includes(value)
      ? (value as T)
      : issues.add(path, `must be one of ${allowed.join(', ')}`);
}

/** A string matching `pattern`, which `describe` explains. */
export function matching(pattern: RegExp, describe: string): Check<string> {
  return (value, path, issues) => {
    const result = literal(value, path, issues);
    if (result === undefined) return undefined;
    return pattern.test(result) ? result : issues.add(path, describe);
  };
}

/** Every item checked; undefined when any failed, so nothing half-valid is kept. */
export function listOf<T>(item: Check<T>, options: { unique?: boolean } = {}): Check<T[]> {
  return (value, path, issues) => {
    if (!Array.isArray(value)) return issues.add(path, 'must be a list');
    const before = issues.list.length;
    const result = value.map((entry: unknown, index) => item(entry, [...path, index], issues));
    if (issues.list.length > before) return undefined;
    if (options.unique === true) {
      const seen = new Set<string>();
      for (const [index, entry] of result.entries()) {
        const key = JSON.stringify(entry);
        if (seen.has(key)) return issues.add([...path, index], 'is listed twice');
        seen.add(key);
      }
    }
    return result as T[];
  };
}

/** A single string is a list of one: compose allows both for `dns`, `tmpfs` and the like. */
export function stringOrList(item: Check<string>): Check<string[]> {
  const list = listOf(item);
  return (value, path, issues) => {
    if (typeof value === 'string') {
      const one = item(value, path, issues);
      return one === undefined ? undefined : [one];
    }
    return list(value, path, issues);
  };
}

/**
 * An object with known keys, each with its check. Unknown keys are refused
 * (`x-` extensions are dropped) so a typo never silently does nothing.
 */
export function objectOf<T>(
  fields: { readonly [K in keyof T]-?: Check<T[K]> },
  required: readonly (keyof T & string)[] = [],
): Check<T> {
  return (value, path, issues) => {
    if (!isRecord(value)) return issues.add(path, 'must be a mapping');
    const before = issues.list.length;
    const entries: [string, unknown][] = [];
    for (const [key, entry] of Object.entries(value)) {
      if (key.startsWith('x-')) continue;
      const check = Object.hasOwn(fields, key)
        ? (fields as Record<string, Check<unknown>>)[key]
        : undefined;
      if (check === undefined) {
        issues.add(
          [...path, key],
          `is not a known key here (known: ${Object.keys(fields).join(', ')})`,
        );
        continue;
      }
      const result = check(entry, [...path, key], issues);
      if (result !== undefined) entries.push([key, result]);
    }
    for (const key of required) {
      if (!Object.hasOwn(value, key)) issues.add([...path, key], 'is required');
    }
    if (issues.list.length > before) return undefined;
    return sortedObject(entries) as T;
  };
}

/** An object with keys in code-unit order, the order canonical JSON uses. */
export function sortedObject<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * A map written either as a mapping or as a `KEY=VALUE` list (environment,
 * labels, sysctls), normalised to a mapping. `withoutValue` is what a list
 * entry without `=` means; `value` checks each mapping value.
 */
export function keyValueMap<V>(options: {
  key: Check<string>;
  value: Check<V>;
  withoutValue: V;
}): Check<Record<string, V>> {
  return (input, path, issues) => {
    const before = issues.list.length;
    const entries: [string, V][] = [];
    const seen = new Set<string>();
    const push = (key: string, value: V, at: ComposePath) => {
      if (seen.has(key)) issues.add(at, `sets ${key} twice`);
      seen.add(key);
      entries.push([key, value]);
    };
    if (Array.isArray(input)) {
      input.forEach((item: unknown, index) => {
        const at = [...path, index];
        if (typeof item !== 'string') return issues.add(at, 'must be a KEY=VALUE string');
        const split = item.indexOf('=');
        const key = options.key(split === -1 ? item : item.slice(0, split), at, issues);
        const value =
          split === -1 ? options.withoutValue : options.value(item.slice(split + 1), at, issues);
        if (key !== undefined && value !== undefined) push(key, value, at);
      });
    } else if (isRecord(input)) {
      for (const [rawKey, rawValue] of Object.entries(input)) {
        const at = [...path, rawKey];
        const key = options.key(rawKey, at, issues);
        const value =
          rawValue === null ? options.withoutValue : options.value(rawValue, at, issues);
        if (key !== undefined && value !== undefined) push(key, value, at);
      }
    } else {
      return issues.add(path, 'must be a mapping or a list of KEY=VALUE strings');
    }
    return issues.list.length > before ? undefined : sortedObject(entries);
  };
}
