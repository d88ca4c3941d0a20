/**
 * Stable rollout cohorts. A device's bucket depends on its id alone, so the
 * scheduler, the update-check endpoint and the preview agree on who is in a
 * stage without sharing state, the same devices go first in every rollout,
 * and raising a percentage only ever adds devices (seed 004, FNV-1a).
 *
 * Buckets are basis points, 0..9999: stages can be as fine as 0.01 %, which
 * matters for a 0.1 % canary in a fleet of 100,000. The modulo bias of
 * 2^32 mod 10,000 is below one part in 400,000.
 */

/** How many buckets there are: a bucket is 0..cohortBuckets-1, one per 0.01 %. */
export const cohortBuckets = 10_000;

const offsetBasis = 0x811c9dc5;
const prime = 0x01000193;
const encoder = new TextEncoder();

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`; an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = offsetBasis;
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    // Device ids are ASCII in practice; only other text pays for encoding.
    if (unit > 0x7f) return fnv1a32Bytes(encoder.encode(text));
    hash = Math.imul(hash ^ unit, prime);
  }
  return hash >>> 0;
}

function fnv1a32Bytes(bytes: Uint8Array): number {
  let hash = offsetBasis;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, prime);
  return hash >>> 0;
}

/**
 * The device's stable bucket, 0..9999. Pass the id exactly as the registry
 * stores it (a lowercase UUID): other spellings hash differently.
 */
export function cohortBucket(deviceId: string): number {
  return fnv1a32(deviceId) % cohortBuckets;
}

/**
 * The first bucket outside `percent`, so a device is inside when its bucket is
 * below it. Percentages carry at most two decimals; finer digits round.
 */
export function cohortThreshold(percent: number): number {
  if (!(percent > 0)) return 0;
  if (percent >= 100) return cohortBuckets;
  return Math.round(percent * 100);
}

/** Whether the device is among the first `percent` % (0..100) of every fleet. */
export function inCohort(deviceId: string, percent: number): boolean {
  return cohortBucket(deviceId) < cohortThreshold(percent);
}

/** Compares device ids in the order rollouts reach them: by bucket, then by id for ties. */
export function cohortOrder(a: string, b: string): number {
  return cohortBucket(a) - cohortBucket(b) || compareIds(a, b);
}

/**
 * `items` sorted by `cohortOrder` of their ids, hashing each id once rather
 * than on every comparison; the input is left as it was.
 */
export function sortByCohort<T>(items: readonly T[], idOf: (item: T) => string): T[] {
  return items
    .map((item) => ({ item, id: idOf(item), bucket: cohortBucket(idOf(item)) }))
    .sort((a, b) => a.bucket - b.bucket || compareIds(a.id, b.id))
    .map((entry) => entry.item);
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
