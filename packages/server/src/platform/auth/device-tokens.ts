import { randomUUID } from 'node:crypto';
import {
  type JWK,
  type JWTVerifyGetKey,
  errors as joseErrors,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/database.js';
import type { DeviceActor } from './actor.js';
import { AuthenticationError, type DeviceTokenVerifier } from './authenticator.js';

export const deviceTokenAudience = 'flock-device';
const algorithm = 'ES256';
/** Keys are re-read at least this often, so a rotation by another replica is seen. */
const keyCacheMs = 60_000;

export interface DeviceTokenOptions {
  issuer: string;
  ttlSeconds: number;
  rotationMs: number;
  now?: () => Date;
}

interface CachedKey {
  kid: string;
  publicJwk: JWK;
  createdAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

export interface IssuedDeviceToken {
  token: string;
  expiresAt: Date;
}

/**
 * Signs and verifies device JWTs (`sub` = device id, with org and fleet
 * claims) with a rotating ES256 key set. Private keys are sealed in the
 * database; public keys are published at /.well-known/jwks.json until every
 * token a retired key signed has expired.
 */
export class DeviceTokens implements DeviceTokenVerifier {
  readonly issuer: string;
  private readonly now: () => Date;
  private keys: CachedKey[] = [];
  private loadedAt = 0;

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly options: DeviceTokenOptions,
  ) {
    this.issuer = options.issuer;
    this.now = options.now ?? (() => new Date());
  }

  /** Creates a signing key when there is none or the current one is older than the rotation period. */
  async rotateIfDue(): Promise<boolean> {
    const now = this.now();
    const current = await this.db
      .selectFrom('signing_keys')
      .select(['kid', 'created_at'])
      .where('retired_at', 'is', null)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    if (
      current !== undefined &&
      now.getTime() - current.created_at.getTime() < this.options.rotationMs
    ) {
      return false;
    }
    const { privateKey, publicKey } = await generateKeyPair(algorithm, { extractable: true });
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: algorithm, use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: algorithm };
    const graceMs = this.options.ttlSeconds * 1000 + 60_000;
    await this.db.transaction().execute(async (tx) => {
      await tx
        .updateTable('signing_keys')
        .set({ retired_at: now, expires_at: new Date(now.getTime() + graceMs) })
        .where('retired_at', 'is', null)
        .execute();
      await tx
        .insertInto('signing_keys')
        .values({
          kid,
          algorithm,
          public_jwk: JSON.stringify(publicJwk),
          private_jwk_sealed: this.box.seal(JSON.stringify(privateJwk)),
          created_at: now,
        })
        .execute();
    });
    this.loadedAt = 0;
    return true;
  }

  async sign(device: { id: string; orgId: string; fleetId: string }): Promise<IssuedDeviceToken> {
    const row = await this.db
      .selectFrom('signing_keys')
      .select(['kid', 'private_jwk_sealed'])
      .where('retired_at', 'is', null)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    if (row === undefined)
      throw new Error('no device signing key exists; rotateIfDue() must run at start');
    const key = await importJWK(
      JSON.parse(this.box.open(row.private_jwk_sealed)) as JWK,
      algorithm,
    );
    const issuedAt = Math.floor(this.now().getTime() / 1000);
    const expiresAt = issuedAt + this.options.ttlSeconds;
    const token = await new SignJWT({ org: device.orgId, fleet: device.fleetId })
      .setProtectedHeader({ alg: algorithm, kid: row.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(deviceTokenAudience)
      .setSubject(device.id)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(key);
    return { token, expiresAt: new Date(expiresAt * 1000) };
  }

  /** The public keys devices' tokens may be signed with, as a JWK Set. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const now = this.now();
    const keys = await this.publicKeys(false);
    return {
      keys: keys.filter((k) => k.expiresAt === null || k.expiresAt > now).map((k) => k.publicJwk),
    };
  }

  async verify(token: string): Promise<DeviceActor> {
    const getKey: JWTVerifyGetKey = async (header) => {
      let key = (await this.publicKeys(false)).find((k) => k.kid === header.kid);
      key ??= (await this.publicKeys(true)).find((k) => k.kid === header.kid);
      if (key === undefined) throw new AuthenticationError('device token signed by an unknown key');
      return importJWK(key.publicJwk, algorithm);
    };
    let payload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: this.issuer,
        audience: deviceTokenAudience,
        algorithms: [algorithm],
        currentDate: this.now(),
      }));
    } catch (error) {
      if (error instanceof AuthenticationError) throw error;
      if (error instanceof joseErrors.JWTExpired)
        throw new AuthenticationError('device token expired', { cause: error });
      throw new AuthenticationError('invalid device token', { cause: error });
    }
    const device = await this.db
      .selectFrom('devices')
      .select(['id', 'org_id', 'fleet_id'])
      .where('id', '=', String(payload.sub))
      .executeTakeFirst();
    if (device === undefined) throw new AuthenticationError('this device is no longer registered');
    return { type: 'device', id: device.id, orgId: device.org_id, fleetId: device.fleet_id };
  }

  private async publicKeys(reload: boolean): Promise<CachedKey[]> {
    if (reload || Date.now() - this.loadedAt > keyCacheMs) {
      const rows = await this.db
        .selectFrom('signing_keys')
        .select(['kid', 'public_jwk', 'created_at', 'retired_at', 'expires_at'])
        .orderBy('created_at', 'desc')
        .execute();
      this.keys = rows.map((r) => ({
        kid: r.kid,
        publicJwk: r.public_jwk as JWK,
        createdAt: r.created_at,
        retiredAt: r.retired_at,
        expiresAt: r.expires_at,
      }));
      this.loadedAt = Date.now();
    }
    return this.keys;
  }
}
