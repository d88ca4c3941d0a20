import type { Config } from '../config/settings.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/database.js';
import { DeviceTokens } from './device-tokens.js';

export interface CreatedDeviceTokens {
  deviceTokens: DeviceTokens;
  installationId: string;
}

/** The `iss` of device tokens: the public URL when there is one, else the installation's URN. */
export function deviceTokenIssuer(publicUrl: string | undefined, installationId: string): string {
  return publicUrl ?? `urn:flock:installation:${installationId}`;
}

/**
 * The installation's DeviceTokens, built the same way wherever tokens are
 * signed (the API) or checked (the embedded broker): a token one accepts the
 * other must accept too, so the issuer and lifetimes come from one place.
 */
export async function createDeviceTokens(options: {
  db: Db;
  box: SecretBox;
  config: Pick<Config, 'publicUrl' | 'deviceTokenTtlSeconds' | 'signingKeyRotationHours'>;
  now?: () => Date;
}): Promise<CreatedDeviceTokens> {
  const { db, box, config } = options;
  const installation = await db.selectFrom('installation').select('id').executeTakeFirstOrThrow();
  const deviceTokens = new DeviceTokens(db, box, {
    issuer: deviceTokenIssuer(config.publicUrl, installation.id),
    ttlSeconds: config.deviceTokenTtlSeconds,
    rotationMs: config.signingKeyRotationHours * 3_600_000,
    now: options.now,
  });
  return { deviceTokens, installationId: installation.id };
}
