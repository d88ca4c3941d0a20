import { createHash } from 'node:crypto';

/** The namespace of every public event id; never changes, or replays would mint new ids. */
export const publicEventIdNamespace = '4f0c7c2e-8a1b-4d7e-9b3a-6e5d2c1f0a97';

/**
 * A name-based UUID (RFC 9562 version 5): the same source always yields the
 * same id, so a replayed audit event or a redelivered MQTT message finds its
 * public event already stored instead of creating a second one.
 */
export function publicEventId(name: string, namespace = publicEventIdNamespace): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(name)
    .digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
