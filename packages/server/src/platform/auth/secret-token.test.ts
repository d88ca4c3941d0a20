import { describe, expect, it } from 'vitest';
import { issueToken, tokenMatches, tokenPrefix } from './secret-token.js';

describe('secret tokens', () => {
  it('issues a token whose prefix identifies it and whose hash verifies it', () => {
    const issued = issueToken('apiKey');
    expect(issued.token).toMatch(/^flk_[0-9a-z]{12}_[\w-]{43}$/);
    expect(issued.token.startsWith(issued.prefix)).toBe(true);
    expect(tokenPrefix('apiKey', issued.token)).toBe(issued.prefix);
    expect(tokenMatches(issued.token, issued.hash)).toBe(true);
    expect(issued.hash).not.toContain(issued.token.slice(17));
  });

  it('refuses other kinds, malformed tokens and altered secrets', () => {
    const issued = issueToken('provisioningKey');
    expect(tokenPrefix('apiKey', issued.token)).toBeUndefined();
    expect(tokenPrefix('provisioningKey', `${issued.token}x`)).toBeUndefined();
    const altered = `${issued.token.slice(0, -1)}${issued.token.endsWith('A') ? 'B' : 'A'}`;
    expect(tokenMatches(altered, issued.hash)).toBe(false);
  });

  it('never issues the same token twice', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => issueToken('deviceSecret').token));
    expect(tokens.size).toBe(1000);
  });
});
