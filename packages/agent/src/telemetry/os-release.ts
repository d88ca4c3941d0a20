import { readFile } from 'node:fs/promises';

/** PRETTY_NAME from os-release, e.g. "Debian GNU/Linux 12 (bookworm)". */
export async function readOsVersion(path = '/etc/os-release'): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const match = text === undefined ? null : /^PRETTY_NAME=(.*)$/m.exec(text);
  if (match === null) return undefined;
  return (
    match[1]!
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .slice(0, 128) || undefined
  );
}
