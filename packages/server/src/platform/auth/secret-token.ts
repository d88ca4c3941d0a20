import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Secrets Flock hands out once: API keys, provisioning keys, device secrets.
 * Shape: `<kind>_<lookup id>_<secret>`. The lookup id finds the row without
 * scanning; only a SHA-256 of the whole token is stored. A fast hash is right
 * here, unlike for passwords: the secret carries 256 bits of randomness, so
 * there is nothing for a slow hash to protect against brute force, and every
 * API call verifies one.
 */
export const tokenKinds = {
  apiKey: 'flk',
  provisioningKey: 'flp',
  deviceSecret: 'fld',
} as const;

export type TokenKind = keyof typeof tokenKinds;

export interface IssuedToken {
  /** Shown once to the caller, never stored. */
  token: string;
  /** `<kind>_<lookup id>`: stored, shown in lists, identifies the token. */
  prefix: string;
  hash: string;
}

const tokenPattern = /^(fl[kpd])_([0-9a-z]{12})_([A-Za-z0-9_-]{43})$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function issueToken(kind: TokenKind): IssuedToken {
  const lookup = randomBytes(8).toString('hex').slice(0, 12);
  const prefix = `${tokenKinds[kind]}_${lookup}`;
  const token = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { token, prefix, hash: hashToken(token) };
}

/** The prefix of a well-formed token of this kind, or undefined. */
export function tokenPrefix(kind: TokenKind, token: string): string | undefined {
  const match = tokenPattern.exec(token);
  if (match === null || match[1] !== tokenKinds[kind]) return undefined;
  return `${match[1]}_${match[2]}`;
}

export function tokenMatches(token: string, storedHash: string): boolean {
  const given = Buffer.from(hashToken(token), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}
