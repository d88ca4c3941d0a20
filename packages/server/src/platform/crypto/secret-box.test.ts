import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox } from './secret-box.js';

describe('SecretBox', () => {
  it('opens what it sealed, and seals the same text differently each time', () => {
    const box = new SecretBox(randomBytes(32));
    const a = box.seal('private key');
    const b = box.seal('private key');
    expect(a).not.toBe(b);
    expect(a).not.toContain('private');
    expect(box.open(a)).toBe('private key');
  });

  it('refuses a tampered secret and another key', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = box.seal('hello');
    const parts = sealed.split('.');
    parts[3] = Buffer.from('hellp').toString('base64url');
    expect(() => box.open(parts.join('.'))).toThrow('does not open');
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow('does not open');
  });

  it('requires a 32-byte key', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow('32 bytes');
  });
});
