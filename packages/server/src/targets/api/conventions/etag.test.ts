import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { etagOf, expectedRevision } from './etag.js';

const withIfMatch = (value?: string) =>
  ({ headers: value === undefined ? {} : { 'if-match': value } }) as FastifyRequest;

describe('etag', () => {
  it('round-trips a revision through ETag and If-Match', () => {
    expect(etagOf(7)).toBe('"r7"');
    expect(expectedRevision(withIfMatch(etagOf(7)))).toBe(7);
    expect(expectedRevision(withIfMatch('W/"r7"'))).toBe(7);
  });

  it('treats a missing If-Match as unconditional and refuses a foreign one', () => {
    expect(expectedRevision(withIfMatch())).toBeUndefined();
    expect(() => expectedRevision(withIfMatch('"abc"'))).toThrow('If-Match must be an ETag');
    expect(() => expectedRevision(withIfMatch('*'))).toThrow('If-Match must be an ETag');
  });
});
