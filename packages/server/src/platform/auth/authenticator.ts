import { decodeJwt } from 'jose';
import type { Actor, ApiKeyActor, DeviceActor, UserActor } from './actor.js';

/** A credential that is missing, malformed, expired or not trusted; the message says which. */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

export interface ApiKeyVerifier {
  verify(token: string): Promise<ApiKeyActor>;
}

export interface DeviceTokenVerifier {
  /** The `iss` of every device token this installation signs. */
  readonly issuer: string;
  verify(token: string): Promise<DeviceActor>;
}

export interface UserTokenVerifier {
  verify(token: string): Promise<UserActor>;
}

export interface AuthenticatorParts {
  apiKeys: ApiKeyVerifier;
  devices: DeviceTokenVerifier;
  /** Absent when no OIDC issuer is configured: people then use API keys. */
  users?: UserTokenVerifier;
}

/** Turns a bearer credential into the actor it proves, whichever kind it is. */
export class Authenticator {
  constructor(private readonly parts: AuthenticatorParts) {}

  async authenticate(token: string): Promise<Actor> {
    if (token.startsWith('flk_')) return this.parts.apiKeys.verify(token);
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw new AuthenticationError('the bearer token is neither an API key nor a JWT');
    }
    if (issuer === this.parts.devices.issuer) return this.parts.devices.verify(token);
    if (this.parts.users === undefined) {
      throw new AuthenticationError('no OIDC issuer is configured on this server; use an API key');
    }
    return this.parts.users.verify(token);
  }
}
