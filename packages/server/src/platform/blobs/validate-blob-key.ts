/** A key or prefix no blob store accepts; the message names the key and the rule it breaks. */
export class InvalidBlobKeyError extends Error {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid blob key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'InvalidBlobKeyError';
  }
}

// S3's own limit on a whole key.
const maxKeyBytes = 1024;
// A filesystem name is at most 255 bytes and the filesystem store appends a suffix to each segment.
const maxSegmentBytes = 200;
// Backslash is a separator on Windows; control characters break logs and file names.
// eslint-disable-next-line no-control-regex
const forbiddenCharacters = /[\u0000-\u001f\u007f\\]/;

function segmentProblem(segment: string): string | undefined {
  if (segment === '') return 'must not have empty segments (a leading, trailing or doubled /)';
  if (segment === '.' || segment === '..') return 'must not have . or .. segments';
  if (Buffer.byteLength(segment) > maxSegmentBytes) {
    return `each segment must be at most ${maxSegmentBytes} bytes`;
  }
  return undefined;
}

function charactersProblem(value: string): string | undefined {
  if (forbiddenCharacters.test(value)) return 'must not contain control characters or backslashes';
  if (Buffer.byteLength(value) > maxKeyBytes) return `must be at most ${maxKeyBytes} bytes`;
  return undefined;
}

/**
 * The one rule both stores apply, so a key that works on the filesystem
 * works on S3 and the reverse: '/'-separated non-empty segments, none of
 * them '.' or '..', so a key can never name a path outside the store.
 */
export function validateBlobKey(key: string): string {
  if (key === '') throw new InvalidBlobKeyError(key, 'must not be empty');
  const problem = charactersProblem(key) ?? key.split('/').map(segmentProblem).find(Boolean);
  if (problem !== undefined) throw new InvalidBlobKeyError(key, problem);
  return key;
}

/**
 * A prefix is matched as plain text, as S3 does, so its last segment may be
 * partial ('bundles/r') or empty ('bundles/'); the segments before it must
 * be valid key segments. The empty prefix lists everything.
 */
export function validateBlobPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const directories = prefix.split('/').slice(0, -1);
  const problem = charactersProblem(prefix) ?? directories.map(segmentProblem).find(Boolean);
  if (problem !== undefined) throw new InvalidBlobKeyError(prefix, problem);
  return prefix;
}
