import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import Provider from 'oidc-provider';
import { authorizationCodeLogin } from './authorization-code-login.js';

export interface TestUser {
  sub: string;
  /** Omitted: the provider knows no email, so tokens and userinfo carry none. */
  email?: string;
  name?: string;
  emailVerified?: boolean;
  /** False keeps email and name out of the access token, as Zitadel does by default. */
  claimsInAccessToken?: boolean;
}

export interface ForgeOptions {
  /** Merged over valid claims (our issuer and audience, a subject, five minutes of life). */
  claims?: JWTPayload;
  /**
   * `provider` signs with the provider's current key; `stranger` with a key
   * nobody publishes, under the provider's key id unless `kid` says otherwise.
   */
  signer?: 'provider' | 'stranger';
  /** Null leaves `kid` out of the header. */
  kid?: string | null;
  /** HS256 signs with a shared secret instead of a key pair. */
  alg?: 'RS256' | 'HS256';
}

export interface TestOidcProvider {
  readonly issuer: string;
  readonly audience: string;
  readonly clientId: string;
  /** How often anyone fetched the JWKS, to see when a verifier refreshed its keys. */
  readonly jwksFetches: number;
  readonly userinfoCalls: number;
  /** A real access token for `user`, through the authorization code flow with PKCE. */
  tokenFor(user: TestUser): Promise<string>;
  /** Signs with a new key from now on; `keepOld` still publishes the previous one. */
  rotateKeys(options: { keepOld: boolean }): Promise<void>;
  forge(options?: ForgeOptions): Promise<string>;
  /** A token with `alg: none` and no signature. */
  unsigned(claims?: JWTPayload): string;
  close(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

const redirectUri = 'http://127.0.0.1/callback';
const apiScope = 'flock';

async function newSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * A real OpenID provider (npm `oidc-provider`) on 127.0.0.1, issuing RFC 9068
 * JWT access tokens for Flock's audience. Its login is driven in code: the
 * interaction endpoint logs in whoever the `login_hint` names and grants the
 * requested scopes. Its userinfo endpoint is replaced by one that accepts
 * those access tokens, as Zitadel's does (oidc-provider's own refuses tokens
 * meant for another audience).
 */
export async function startOidcProvider(
  options: { audience?: string } = {},
): Promise<TestOidcProvider> {
  const audience = options.audience ?? 'https://flock.test/api';
  const clientId = 'flock-cli';
  const users = new Map<string, TestUser>();
  let keys = [await newSigningKey()];
  const stranger = await newSigningKey();
  let jwksFetches = 0;
  let userinfoCalls = 0;

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const accountClaims = (user: TestUser): Record<string, unknown> => ({
    sub: user.sub,
    ...(user.email === undefined
      ? {}
      : { email: user.email, email_verified: user.emailVerified ?? true }),
    ...(user.name === undefined ? {} : { name: user.name }),
  });

  const build = (): Provider =>
    new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          application_type: 'native',
          token_endpoint_auth_method: 'none',
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
          response_types: ['code'],
        },
      ],
      jwks: { keys: keys.map((key) => key.privateJwk) },
      scopes: ['openid', 'email', 'profile', apiScope],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      cookies: { keys: ['flock-test-cookie-key'] },
      pkce: { required: () => true },
      ttl: {
        AccessToken: 300,
        AuthorizationCode: 60,
        DeviceCode: 600,
        Grant: 3600,
        IdToken: 300,
        Interaction: 600,
        Session: 3600,
      },
      interactions: {
        url: (_context: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      },
      features: {
        devInteractions: { enabled: false },
        deviceFlow: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => audience,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: apiScope,
            audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
          }),
        },
      },
      findAccount: async (_context, id) => {
        const user = users.get(id);
        return user === undefined
          ? undefined
          : { accountId: id, claims: () => accountClaims(user) };
      },
      extraTokenClaims: async (_context, token) => {
        const user = token.kind === 'AccessToken' ? users.get(token.accountId ?? '') : undefined;
        if (user === undefined || user.claimsInAccessToken === false) return undefined;
        const { sub: _sub, ...claims } = accountClaims(user);
        return claims;
      },
    });

  let provider = build();

  const login = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const interaction = await provider.interactionDetails(request, response);
    const accountId = String(interaction.params.login_hint);
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope('openid email profile');
    grant.addResourceScope(audience, apiScope);
    await provider.interactionFinished(
      request,
      response,
      { login: { accountId }, consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: false },
    );
  };

  const userinfo = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    userinfoCalls++;
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    try {
      const jwks = createLocalJWKSet({ keys: keys.map((key) => key.publicJwk) });
      const { payload } = await jwtVerify(token, jwks, { issuer, audience });
      const user = users.get(payload.sub ?? '');
      if (user === undefined) throw new Error('no such user');
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(accountClaims(user)));
    } catch {
      response.statusCode = 401;
      response.end();
    }
  };

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (path === '/jwks') jwksFetches++;
    if (path === '/me') {
      void userinfo(request, response);
    } else if (path.startsWith('/interaction/')) {
      login(request, response).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    } else {
      provider.callback()(request, response);
    }
  });

  const signWith = async (key: SigningKey, claims: JWTPayload, kid: string | null) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', ...(kid === null ? {} : { kid }) })
      .sign(await importJWK(key.privateJwk, 'RS256'));

  const validClaims = (): JWTPayload => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: issuer, aud: audience, sub: 'forged-user', iat: now, exp: now + 300 };
  };

  return {
    issuer,
    audience,
    clientId,
    get jwksFetches() {
      return jwksFetches;
    },
    get userinfoCalls() {
      return userinfoCalls;
    },

    async tokenFor(user) {
      users.set(user.sub, user);
      return authorizationCodeLogin({
        issuer,
        clientId,
        redirectUri,
        resource: audience,
        scope: 'openid email profile',
        loginHint: user.sub,
      });
    },

    async rotateKeys({ keepOld }) {
      const key = await newSigningKey();
      keys = keepOld ? [key, ...keys] : [key];
      provider = build();
    },

    async forge(forge = {}) {
      const claims = { ...validClaims(), ...forge.claims };
      if (forge.alg === 'HS256') {
        return new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', kid: forge.kid ?? keys[0]!.kid })
          .sign(randomBytes(32));
      }
      const key = forge.signer === 'stranger' ? stranger : keys[0]!;
      return signWith(key, claims, forge.kid === undefined ? keys[0]!.kid : forge.kid);
    },

    unsigned(claims = {}) {
      return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ ...validClaims(), ...claims })}.`;
    },

    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
