import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, bearer } from '../../../../test/support/api-harness.js';
import {
  startOidcProvider,
  type TestOidcProvider,
} from '../../../../test/support/oidc-provider.js';
import { type OidcTestApi, startOidcTestApi } from '../../../../test/support/oidc-test-api.js';
import { authRoutes } from './auth-routes.js';

/** Short enough to wait out in a test; production keeps jose's 30 s. */
const cooldownMs = 2_000;

describe.each(apiBackends)('OIDC login on %s', (backend) => {
  let provider: TestOidcProvider;
  let api: OidcTestApi;

  beforeAll(async () => {
    provider = await startOidcProvider();
    api = await startOidcTestApi({
      backend,
      routes: [authRoutes],
      provider,
      verifier: { jwksCooldownMs: cooldownMs },
    });
  });
  afterAll(async () => {
    await api?.close();
    await provider?.close();
  });

  const me = (token: string) =>
    api.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });

  it('picks up rotated issuer keys without a restart', async () => {
    const oldToken = await provider.tokenFor({ sub: 'rotor', email: 'rotor@example.com' });
    expect((await me(oldToken)).statusCode).toBe(200);
    const fetchesBefore = provider.jwksFetches;

    await provider.rotateKeys({ keepOld: true });
    const newToken = await provider.tokenFor({ sub: 'rotor', email: 'rotor@example.com' });
    // Within jose's cooldown an unknown key id fetches nothing, so forged ids cannot flood the issuer.
    const tooSoon = await me(newToken);
    expect(tooSoon.json().detail).toBe('token signed by an unknown key');
    expect(provider.jwksFetches).toBe(fetchesBefore);

    await sleep(cooldownMs + 100);
    expect((await me(newToken)).statusCode).toBe(200);
    expect(provider.jwksFetches).toBe(fetchesBefore + 1);
    expect((await me(oldToken)).statusCode).toBe(200);
    // Two RS256 keys are published now: a token without `kid` is tried against each.
    expect((await me(await provider.forge({ kid: null }))).statusCode).toBe(200);
    const stranger = await me(await provider.forge({ kid: null, signer: 'stranger' }));
    expect(stranger.json().detail).toBe('bad signature');

    await provider.rotateKeys({ keepOld: false });
    await sleep(cooldownMs + 100);
    const newest = await provider.tokenFor({ sub: 'rotor', email: 'rotor@example.com' });
    expect((await me(newest)).statusCode).toBe(200);
    const dropped = await me(oldToken);
    expect(dropped.statusCode).toBe(401);
    expect(dropped.json().detail).toBe('token signed by an unknown key');
  });

  it('activates pending memberships on first login, matching email case-insensitively', async () => {
    const orgA = await api.createOrg('invites-a');
    const orgB = await api.createOrg('invites-b');
    const pending = await api.database.db
      .insertInto('memberships')
      .values([
        { org_id: orgA, email: 'carol@example.com', role: 'developer' },
        { org_id: orgB, email: 'carol@example.com', role: 'viewer' },
        { org_id: orgB, email: 'someone-else@example.com', role: 'admin' },
      ])
      .returning(['id', 'org_id'])
      .execute();

    const response = await me(
      await provider.tokenFor({ sub: 'carol', email: 'Carol@Example.COM' }),
    );
    const carol = response.json();
    expect(carol.orgs).toEqual([
      expect.objectContaining({ id: orgA, role: 'developer' }),
      expect.objectContaining({ id: orgB, role: 'viewer' }),
    ]);
    const rows = await api.database.db
      .selectFrom('memberships')
      .select(['id', 'user_id', 'joined_at', 'email'])
      .where(
        'id',
        'in',
        pending.map((row) => row.id),
      )
      .orderBy('email')
      .execute();
    expect(rows.map((row) => row.user_id)).toEqual([carol.user.id, carol.user.id, null]);
    expect(rows[0]!.joined_at).toBeInstanceOf(Date);

    const joined = await api.database.db
      .selectFrom('audit_events')
      .select(['org_id', 'actor_type', 'actor_id', 'resource_id'])
      .where('action', '=', 'member.joined')
      .where('org_id', 'in', [orgA, orgB])
      .execute();
    expect(joined).toHaveLength(2);
    expect(
      joined.every((event) => event.actor_type === 'user' && event.actor_id === carol.user.id),
    ).toBe(true);
  });

  it('trusts no email the issuer marks unverified', async () => {
    const org = await api.createOrg('unverified');
    await api.database.db
      .insertInto('memberships')
      .values({ org_id: org, email: 'victim@example.com', role: 'owner' })
      .execute();
    const response = await me(
      await provider.tokenFor({
        sub: 'mallory',
        email: 'victim@example.com',
        emailVerified: false,
      }),
    );
    expect(response.json()).toMatchObject({ user: { email: null }, orgs: [] });
  });

  it('creates the user once when their first requests arrive together', async () => {
    const token = await provider.tokenFor({ sub: 'twin', email: 'twin@example.com' });
    const responses = await Promise.all([me(token), me(token), me(token)]);
    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200]);
    expect(new Set(responses.map((response) => response.json().user.id)).size).toBe(1);
  });
});
