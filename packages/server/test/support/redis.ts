import { randomBytes } from 'node:crypto';

/** The Redis that tests may use, from FLOCK_TEST_KV_URL; undefined skips Redis tests. */
export function testKvUrl(): string | undefined {
  const url = process.env['FLOCK_TEST_KV_URL']?.trim();
  return url === undefined || url === '' ? undefined : url;
}

/**
 * A key prefix no other run uses: tests share one Redis with other suites and
 * other checkouts, and each deletes only what carries its own prefix.
 */
export function uniquePrefix(kind: string): string {
  return `flock-test-${kind}-${randomBytes(6).toString('hex')}:`;
}
