import { randomBytes } from 'node:crypto';
import type { SecretBox } from '../crypto/secret-box.js';

/**
 * A subscription's webhook signing secret in the Standard Webhooks form:
 * `whsec_` + base64 of 32 random bytes. The receiver's libraries base64-decode
 * the part after the prefix and use those bytes as the HMAC-SHA256 key, so the
 * key is the decoded bytes, never the text. Flock signs with it, so it is
 * stored sealed (SecretBox), not hashed.
 */
export const signingSecretPrefix = 'whsec_';

const secretPattern = /^whsec_([A-Za-z0-9+/]{43}=)$/;

export function generateSigningSecret(): string {
  return `${signingSecretPrefix}${randomBytes(32).toString('base64')}`;
}

/** The HMAC-SHA256 key a secret stands for. */
export function signingKey(secret: string): Buffer {
  const match = secretPattern.exec(secret);
  if (match?.[1] === undefined) throw new Error('not a whsec_ signing secret of 32 bytes');
  return Buffer.from(match[1], 'base64');
}

export function sealSigningSecret(box: SecretBox, secret: string): string {
  signingKey(secret);
  return box.seal(secret);
}

/** Opens a stored secret; a value that opens to anything but a signing secret is refused. */
export function openSigningSecret(box: SecretBox, sealed: string): string {
  const secret = box.open(sealed);
  signingKey(secret);
  return secret;
}
