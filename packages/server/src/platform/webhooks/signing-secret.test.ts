import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox } from '../crypto/secret-box.js';
import {
  generateSigningSecret,
  openSigningSecret,
  sealSigningSecret,
  signingKey,
} from './signing-secret.js';

describe('webhook signing secrets', () => {
  it('are whsec_ and base64 of 32 random bytes, never the same twice', () => {
    const secrets = new Set(Array.from({ length: 500 }, () => generateSigningSecret()));
    expect(secrets.size).toBe(500);
    for (const secret of secrets) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(signingKey(secret)).toHaveLength(32);
    }
  });

  it('stand for the decoded bytes, as Standard Webhooks receivers read them', () => {
    const key = randomBytes(32);
    expect(signingKey(`whsec_${key.toString('base64')}`).equals(key)).toBe(true);
  });

  it('are sealed unreadable and open again with the same key only', () => {
    const box = new SecretBox(randomBytes(32));
    const secret = generateSigningSecret();
    const sealed = sealSigningSecret(box, secret);
    expect(sealed).not.toContain(secret.slice(6, 20));
    expect(openSigningSecret(box, sealed)).toBe(secret);
    expect(() => openSigningSecret(new SecretBox(randomBytes(32)), sealed)).toThrow(
      'does not open',
    );
  });

  it('refuse anything that is not a signing secret', () => {
    const box = new SecretBox(randomBytes(32));
    expect(() => sealSigningSecret(box, 'whsec_short')).toThrow('whsec_');
    expect(() => signingKey(randomBytes(32).toString('base64'))).toThrow('whsec_');
    expect(() => openSigningSecret(box, box.seal('an api key'))).toThrow('whsec_');
  });
});
