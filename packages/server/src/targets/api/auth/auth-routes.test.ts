import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, bearer, startTestApi } from '../../../../test/support/api-harness.js';
import {
  startOidcProvider,
  type TestOidcProvider,
} from '../../../../test/support/oidc-provider.js';
import { type OidcTestApi, startOidcTestApi } from '../../../../test/support/oidc-test-api.js';
import { authRoutes } from './auth-routes.js';

describe.each(apiBackends)('auth routes on %s', (backend) => {
  let provider: TestOidcProvider;
  let api: OidcTestApi;

  beforeAll(async () => {
    provider = await startOidcProvider();
    api = await startOidcTestApi({ backend, routes: [authRoutes], provider });
  });
  afterAll(async () => {
    await api?.close();
    await provider?.close();
  });

  const me = (token: string) =>
    api.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });

  it('tells clients how to log in, from the issuer’s discovery document', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/v1/auth/config' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      issuer: provider.issuer,
      client_id: provider.clientId,
      audience: provider.audience,
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      device_authorization_endpoint: `${provider.issuer}/device/auth`,
      token_endpoint: `${provider.issuer}/token`,
      api_keys: true,
    });
  });

  it('tells clients to use an API key when no issuer is configured', async () => {
    const keysOnly = await startTestApi({ backend, routes: [authRoutes] });
    try {
      const config = await keysOnly.app.inject({ method: 'GET', url: '/v1/auth/config' });
      expect(config.json()).toMatchObject({ issuer: null, token_endpoint: null, api_keys: true });
      expect(config.json().message).toMatch(/API key/);
      const token = await provider.tokenFor({ sub: 'nobody' });
      const refused = await keysOnly.app.inject({
        method: 'GET',
        url: '/v1/me',
        headers: bearer(token),
      });
      expect(refused.statusCode).toBe(401);
      expect(refused.json().detail).toBe(
        'no OIDC issuer is configured on this server; use an API key',
      );
    } finally {
      await keysOnly.close();
    }
  });

  it('creates a person once, on their first valid token', async () => {
    const token = await provider.tokenFor({
      sub: 'alice',
      email: 'Alice@Example.com',
      name: 'Alice',
    });
    const first = await me(token);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({
      type: 'user',
      user: { email: 'Alice@Example.com', name: 'Alice' },
      orgs: [],
    });
    const again = await me(await provider.tokenFor({ sub: 'alice', email: 'Alice@Example.com' }));
    expect(again.json().user.id).toBe(first.json().user.id);
    const rows = await api.database.db
      .selectFrom('users')
      .select(['issuer', 'subject', 'last_login_at'])
      .where('subject', '=', 'alice')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ issuer: provider.issuer });
    expect(rows[0]!.last_login_at).toBeInstanceOf(Date);
  });

  it('refuses every bad token with 401 and the reason', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string | RegExp][] = [
      [await provider.forge({ claims: { exp: now - 120 } }), 'token expired'],
      [await provider.forge({ claims: { nbf: now + 120 } }), 'token not yet valid'],
      [await provider.forge({ claims: { iss: 'https://evil.example' } }), /^wrong issuer/],
      [await provider.forge({ claims: { aud: 'someone-else' } }), /^wrong audience/],
      [await provider.forge({ signer: 'stranger' }), 'bad signature'],
      [provider.unsigned(), 'unsigned tokens (alg none) are refused'],
      [await provider.forge({ alg: 'HS256' }), /^tokens signed with HS256 are refused/],
      [await provider.forge({ kid: 'no-such-key' }), 'token signed by an unknown key'],
      [await provider.forge({ claims: { sub: undefined } }), /^invalid token: .*sub/],
    ];
    for (const [token, reason] of cases) {
      const response = await me(token);
      expect(response.statusCode, String(reason)).toBe(401);
      expect(response.json().detail).toMatch(reason);
      expect(response.headers['www-authenticate']).toContain('error="invalid_token"');
    }
  });

  it('accepts a little clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await provider.forge({ claims: { sub: 'skewed', nbf: now + 10, exp: now - 10 } });
    expect((await me(token)).statusCode).toBe(200);
  });

  it('writes last_login_at at most once a minute', async () => {
    let clock = new Date();
    api.verifier = api.newVerifier({ now: () => clock });
    try {
      const token = await provider.tokenFor({ sub: 'dave', email: 'dave@example.com' });
      const lastLogin = async () =>
        (
          await api.database.db
            .selectFrom('users')
            .select('last_login_at')
            .where('subject', '=', 'dave')
            .executeTakeFirstOrThrow()
        ).last_login_at?.getTime();
      await me(token);
      const first = await lastLogin();
      expect(first).toBe(clock.getTime());
      clock = new Date(clock.getTime() + 30_000);
      await me(token);
      expect(await lastLogin()).toBe(first);
      clock = new Date(clock.getTime() + 31_000);
      await me(token);
      expect(await lastLogin()).toBe(clock.getTime());
    } finally {
      api.verifier = api.newVerifier();
    }
  });

  it('asks userinfo once for a new person whose token carries no email', async () => {
    const user = {
      sub: 'erin',
      email: 'erin@example.com',
      name: 'Erin',
      claimsInAccessToken: false,
    };
    const before = provider.userinfoCalls;
    const first = await me(await provider.tokenFor(user));
    expect(first.json().user).toMatchObject({ email: 'erin@example.com', name: 'Erin' });
    await me(await provider.tokenFor(user));
    expect(provider.userinfoCalls).toBe(before + 1);
  });

  it('answers 503, not 401, while the issuer cannot be reached', async () => {
    const gone = await startOidcProvider();
    const token = await gone.tokenFor({ sub: 'stranded' });
    await gone.close();
    const stranded = await startOidcTestApi({ backend, routes: [authRoutes], provider: gone });
    try {
      const config = await stranded.app.inject({ method: 'GET', url: '/v1/auth/config' });
      expect(config.statusCode).toBe(503);
      const refused = await stranded.app.inject({
        method: 'GET',
        url: '/v1/me',
        headers: bearer(token),
      });
      expect(refused.statusCode).toBe(503);
      expect(refused.json().detail).toMatch(/OIDC issuer cannot be reached/);
    } finally {
      await stranded.close();
    }
  });

  it('shows an API key its own org', async () => {
    const orgId = await api.createOrg('keyed');
    const key = await api.createApiKey(orgId, 'developer');
    const response = await me(key);
    expect(response.json()).toMatchObject({
      type: 'api_key',
      api_key: { org_id: orgId, role: 'developer' },
      orgs: [{ id: orgId, name: 'keyed', role: 'developer' }],
    });
  });
});
