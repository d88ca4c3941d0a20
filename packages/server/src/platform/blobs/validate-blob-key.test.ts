import { describe, expect, it } from 'vitest';
import { InvalidBlobKeyError, validateBlobKey, validateBlobPrefix } from './validate-blob-key.js';

describe('validateBlobKey', () => {
  it.each([
    'bundle.tar',
    'releases/r1/bundle.tar',
    'logs/build 7/ünïcødé.log',
    '...',
    '..a/b.',
    'a'.repeat(200),
    `${'a'.repeat(200)}/`.repeat(5).slice(0, -1),
  ])('accepts %j', (key) => {
    expect(validateBlobKey(key)).toBe(key);
  });

  it.each([
    ['', 'must not be empty'],
    ['/abs', 'must not have empty segments'],
    ['a/', 'must not have empty segments'],
    ['a//b', 'must not have empty segments'],
    ['..', 'must not have . or .. segments'],
    ['a/../b', 'must not have . or .. segments'],
    ['./a', 'must not have . or .. segments'],
    ['a\\b', 'must not contain control characters or backslashes'],
    ['a\nb', 'must not contain control characters or backslashes'],
    ['a'.repeat(201), 'each segment must be at most 200 bytes'],
    ['é'.repeat(101), 'each segment must be at most 200 bytes'],
    [`${'a/'.repeat(512)}a`, 'must be at most 1024 bytes'],
  ])('rejects %j: %s', (key, reason) => {
    expect(() => validateBlobKey(key)).toThrow(InvalidBlobKeyError);
    expect(() => validateBlobKey(key)).toThrow(
      `invalid blob key ${JSON.stringify(key)}: ${reason}`,
    );
  });
});

describe('validateBlobPrefix', () => {
  it.each(['', 'releases/', 'releases/r', 'a', '..', 'a/..'])('accepts %j', (prefix) => {
    expect(validateBlobPrefix(prefix)).toBe(prefix);
  });

  it.each(['/', '/releases', '../', 'a/../b', 'a//b', 'a\\'])('rejects %j', (prefix) => {
    expect(() => validateBlobPrefix(prefix)).toThrow(InvalidBlobKeyError);
  });
});
