/**
 * Both stores reject the same expiries up front, so a bad TTL fails alike in
 * memory and on Redis (which would refuse it with its own wording, or after
 * half a batch was sent).
 */
export function assertTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`a TTL must be a positive whole number of ms, got ${ttlMs}`);
  }
}
