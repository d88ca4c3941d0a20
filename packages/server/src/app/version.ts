import { readFileSync } from 'node:fs';

/** The version of @flock/server, read from its package.json beside src/ and dist/. */
export const version: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
