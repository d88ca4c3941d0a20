import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The MQTT username every Flock process connects with. */
export const serviceUsername = 'flock-service';

const derivationLabel = 'flock mqtt service password v1';

/**
 * The service password: the configured one, else an HMAC of a fixed label
 * under the installation's secret key, so processes that share the key (as
 * they must to open each other's secrets) agree on it without a second
 * secret to distribute.
 */
export function servicePassword(configured: string | undefined, secretKey: Buffer): string {
  return configured ?? createHmac('sha256', secretKey).update(derivationLabel).digest('base64url');
}

/** Compares secrets in constant time, whatever their lengths. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
