import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { HttpProblem } from '../http/problem.js';
import type { UserActor } from './actor.js';
import { AuthenticationError, type UserTokenVerifier } from './authenticator.js';
import { OidcDiscovery } from './oidc-discovery.js';
import { type UserProfile, UserAccounts } from './user-accounts.js';

/** Signatures only the issuer can make: a shared-secret (HS*) token could be minted by anyone holding the secret. */
const asymmetricAlgorithms = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

export interface OidcVerifierOptions {
  issuer: string;
  audience: string;
  database: Database;
  log?: Logger;
  now?: () => Date;
  /** Allowed clock skew between the issuer and Flock for exp and nbf. */
  clockToleranceSeconds?: number;
  /**
   * After fetching the JWKS, an unknown `kid` triggers no new fetch for this
   * long (jose's cooldown), so forged key ids cannot make Flock hammer the
   * issuer. A key rotated in within that window is picked up once it ends.
   */
  jwksCooldownMs?: number;
  discovery?: OidcDiscovery;
}

function profileFrom(claims: Record<string, unknown>): UserProfile {
  const profile: UserProfile = {};
  if (typeof claims.email === 'string') profile.email = claims.email;
  // Some issuers (Cognito, older Keycloak mappers) send the flag as a string.
  const verified = claims.email_verified;
  if (verified === false || verified === 'false') profile.emailVerified = false;
  if (verified === true || verified === 'true') profile.emailVerified = true;
  const name = claims.name ?? claims.preferred_username;
  if (typeof name === 'string' && name.trim() !== '') profile.name = name.trim();
  return profile;
}

function issuerUnavailable(cause: unknown): HttpProblem {
  return new HttpProblem(
    'not_ready',
    'the OIDC issuer cannot be reached to check the token; try again shortly',
    undefined,
    undefined,
    { cause },
  );
}

/**
 * Verifies people's bearer JWTs from the configured OIDC issuer: keys from the
 * issuer's JWKS (found by discovery, cached, fetched again when a token names
 * a key id Flock has not seen, which is how a key rotation arrives), then
 * issuer, audience, exp and nbf. A valid token's person is created or updated
 * through UserAccounts.
 *
 * Email: taken from the access token's claims when present. Many issuers
 * (Zitadel by default) put no email in access tokens, so for a new user
 * without one the userinfo endpoint is asked once, at first login; after that
 * only claims update it. Without any email the user is still created, with
 * email null, and can be added to orgs only once a token carries one.
 */
export class OidcVerifier implements UserTokenVerifier {
  private readonly discovery: OidcDiscovery;
  private readonly accounts: UserAccounts;
  private readonly now: () => Date;
  private keySet: { uri: string; getKey: JWTVerifyGetKey } | undefined;

  constructor(private readonly options: OidcVerifierOptions) {
    this.discovery = options.discovery ?? new OidcDiscovery(options.issuer);
    this.now = options.now ?? (() => new Date());
    this.accounts = new UserAccounts(options.database, {
      now: this.now,
      ...(options.log === undefined ? {} : { log: options.log }),
    });
  }

  async verify(token: string): Promise<UserActor> {
    const claims = await this.verifiedClaims(token);
    return this.accounts.recordLogin(
      { issuer: this.options.issuer, subject: String(claims.sub), ...profileFrom(claims) },
      () => this.userinfo(token, String(claims.sub)),
    );
  }

  private async verifiedClaims(token: string): Promise<JWTPayload> {
    let alg: string | undefined;
    let issuer: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      issuer = decodeJwt(token).iss;
    } catch (error) {
      throw new AuthenticationError('malformed token', { cause: error });
    }
    if (alg === undefined || alg.toLowerCase() === 'none') {
      throw new AuthenticationError('unsigned tokens (alg none) are refused');
    }
    if (!asymmetricAlgorithms.includes(alg)) {
      throw new AuthenticationError(
        `tokens signed with ${alg} are refused; only asymmetric signatures (RS, PS, ES, EdDSA) are accepted`,
      );
    }
    // Checked before any key is fetched, so tokens of other issuers cost nothing.
    if (issuer !== this.options.issuer) throw this.wrongIssuer();

    const options: JWTVerifyOptions = {
      issuer: this.options.issuer,
      audience: this.options.audience,
      algorithms: asymmetricAlgorithms,
      clockTolerance: this.options.clockToleranceSeconds ?? 30,
      currentDate: this.now(),
      requiredClaims: ['sub', 'exp'],
    };
    try {
      return (await jwtVerify(token, await this.keys(), options)).payload;
    } catch (error) {
      if (error instanceof joseErrors.JWKSMultipleMatchingKeys) {
        return this.verifyWithEach(token, error, options);
      }
      throw this.explain(error);
    }
  }

  /** A token without `kid` while the JWKS holds several keys of its algorithm: try each. */
  private async verifyWithEach(
    token: string,
    candidates: joseErrors.JWKSMultipleMatchingKeys,
    options: JWTVerifyOptions,
  ): Promise<JWTPayload> {
    for await (const key of candidates) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (error) {
        if (!(error instanceof joseErrors.JWSSignatureVerificationFailed))
          throw this.explain(error);
      }
    }
    throw new AuthenticationError('bad signature');
  }

  private async keys(): Promise<JWTVerifyGetKey> {
    let uri: string;
    try {
      uri = (await this.discovery.metadata()).jwks_uri;
    } catch (error) {
      throw issuerUnavailable(error);
    }
    if (this.keySet?.uri !== uri) {
      this.keySet = {
        uri,
        getKey: createRemoteJWKSet(new URL(uri), {
          cooldownDuration: this.options.jwksCooldownMs ?? 30_000,
          timeoutDuration: 5_000,
        }),
      };
    }
    return this.keySet.getKey;
  }

  private explain(error: unknown): Error {
    if (error instanceof AuthenticationError) return error;
    const because = { cause: error };
    if (error instanceof joseErrors.JWTExpired)
      return new AuthenticationError('token expired', because);
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      if (error.claim === 'nbf') return new AuthenticationError('token not yet valid', because);
      if (error.claim === 'iss') return this.wrongIssuer();
      if (error.claim === 'aud') {
        return new AuthenticationError(
          `wrong audience: tokens must be issued for ${this.options.audience}`,
          because,
        );
      }
      return new AuthenticationError(`invalid token: ${error.message}`, because);
    }
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      return new AuthenticationError('bad signature', because);
    }
    if (error instanceof joseErrors.JWKSNoMatchingKey) {
      return new AuthenticationError('token signed by an unknown key', because);
    }
    if (
      error instanceof joseErrors.JWSInvalid ||
      error instanceof joseErrors.JWTInvalid ||
      error instanceof joseErrors.JOSEAlgNotAllowed ||
      error instanceof joseErrors.JOSENotSupported ||
      error instanceof joseErrors.JWKInvalid
    ) {
      return new AuthenticationError(`invalid token: ${(error as Error).message}`, because);
    }
    // What remains is the JWKS fetch failing: a timeout, a non-200 answer, a network error.
    this.options.log?.warn({ err: error }, 'cannot fetch the OIDC issuer keys');
    return issuerUnavailable(error);
  }

  private wrongIssuer(): AuthenticationError {
    return new AuthenticationError(
      `wrong issuer: this server accepts tokens from ${this.options.issuer}`,
    );
  }

  private async userinfo(token: string, subject: string): Promise<UserProfile> {
    const endpoint = (await this.discovery.metadata()).userinfo_endpoint;
    if (endpoint === undefined) return {};
    const response = await fetch(endpoint, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) throw new Error(`userinfo answered HTTP ${response.status}`);
    const claims = (await response.json()) as Record<string, unknown>;
    // OIDC Core 5.3.2: a userinfo answer about someone else must be ignored.
    if (claims.sub !== subject) throw new Error('userinfo names another subject');
    return profileFrom(claims);
  }
}
