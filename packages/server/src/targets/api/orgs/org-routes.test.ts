import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, bearer } from '../../../../test/support/api-harness.js';
import {
  startOidcProvider,
  type TestOidcProvider,
} from '../../../../test/support/oidc-provider.js';
import { type OidcTestApi, startOidcTestApi } from '../../../../test/support/oidc-test-api.js';
import { orgRoutes } from './org-routes.js';

describe.each(apiBackends)('org routes on %s', (backend) => {
  let provider: TestOidcProvider;
  let api: OidcTestApi;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    provider = await startOidcProvider();
    api = await startOidcTestApi({ backend, routes: [orgRoutes], provider });
    alice = await provider.tokenFor({ sub: 'alice', email: 'alice@example.com', name: 'Alice' });
    bob = await provider.tokenFor({ sub: 'bob', email: 'bob@example.com' });
  });
  afterAll(async () => {
    await api?.close();
    await provider?.close();
  });

  const call = (method: 'GET' | 'POST' | 'PATCH', url: string, token: string, payload?: object) =>
    api.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });

  const createOrg = async (token: string, name: string): Promise<string> => {
    const response = await call('POST', '/v1/orgs', token, { name });
    expect(response.statusCode).toBe(201);
    return response.json().id;
  };

  it('lets a person create an org and makes them its owner, audited in the new org', async () => {
    const response = await call('POST', '/v1/orgs', alice, { name: '  Acme  ' });
    expect(response.statusCode).toBe(201);
    const org = response.json();
    expect(org).toMatchObject({ name: 'Acme', role: 'owner' });
    expect(response.headers.location).toBe(`/v1/orgs/${org.id}`);

    const membership = await api.database.db
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select(['memberships.role', 'memberships.email', 'users.subject', 'memberships.joined_at'])
      .where('memberships.org_id', '=', org.id)
      .execute();
    expect(membership).toEqual([
      { role: 'owner', email: 'alice@example.com', subject: 'alice', joined_at: expect.any(Date) },
    ]);
    const events = await api.database.db
      .selectFrom('audit_events')
      .select(['action', 'actor_type', 'resource_id', 'summary'])
      .where('org_id', '=', org.id)
      .execute();
    expect(events).toEqual([
      expect.objectContaining({ action: 'org.created', actor_type: 'user', resource_id: org.id }),
    ]);
    expect(events[0]!.summary).toMatchObject({ name: 'Acme' });
  });

  it('refuses org creation to an API key, and bad names', async () => {
    const key = await api.createApiKey(await api.createOrg(), 'owner');
    const byKey = await call('POST', '/v1/orgs', key, { name: 'Robots' });
    expect(byKey.statusCode).toBe(403);
    for (const payload of [{ name: '' }, { name: '   ' }, { name: 'x', extra: 1 }, {}]) {
      expect(
        (await call('POST', '/v1/orgs', alice, payload)).statusCode,
        JSON.stringify(payload),
      ).toBe(400);
    }
  });

  it("lists the caller's orgs only, a page at a time", async () => {
    await createOrg(bob, 'Bob 1');
    await createOrg(bob, 'Bob 2');
    await createOrg(alice, 'Alice only');
    const first = await call('GET', '/v1/orgs?limit=1', bob);
    expect(first.json().items).toEqual([expect.objectContaining({ name: 'Bob 1', role: 'owner' })]);
    const cursor = first.json().next_cursor as string;
    const second = await call('GET', `/v1/orgs?limit=1&cursor=${cursor}`, bob);
    expect(second.json()).toEqual({
      items: [expect.objectContaining({ name: 'Bob 2' })],
      next_cursor: null,
    });
    expect((await call('GET', '/v1/orgs?cursor=bogus', bob)).statusCode).toBe(400);

    const orgId = await api.createOrg('keyed');
    const key = await api.createApiKey(orgId, 'viewer');
    expect((await call('GET', '/v1/orgs', key)).json().items).toEqual([
      expect.objectContaining({ id: orgId, role: 'viewer' }),
    ]);
  });

  it('shows an org to its members and answers 404 to everyone else', async () => {
    const orgId = await createOrg(alice, 'Visible');
    const viewer = await api.createApiKey(orgId, 'viewer');
    const shown = await call('GET', `/v1/orgs/${orgId}`, viewer);
    expect(shown.json()).toMatchObject({ id: orgId, name: 'Visible', role: 'viewer' });
    expect((await call('GET', `/v1/orgs/${orgId}`, bob)).statusCode).toBe(404);
    expect((await call('PATCH', `/v1/orgs/${orgId}`, bob, { name: 'Mine' })).statusCode).toBe(404);
  });

  it('lets an admin rename the org, audited; a developer may not', async () => {
    const orgId = await createOrg(alice, 'Old name');
    const developer = await api.createApiKey(orgId, 'developer');
    expect((await call('PATCH', `/v1/orgs/${orgId}`, developer, { name: 'Nope' })).statusCode).toBe(
      403,
    );
    const admin = await api.createApiKey(orgId, 'admin');
    const renamed = await call('PATCH', `/v1/orgs/${orgId}`, admin, { name: 'New name' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'New name', role: 'admin' });
    const event = await api.database.db
      .selectFrom('audit_events')
      .select(['actor_type', 'summary'])
      .where('org_id', '=', orgId)
      .where('action', '=', 'org.updated')
      .executeTakeFirstOrThrow();
    expect(event).toEqual({
      actor_type: 'api_key',
      summary: { name: { from: 'Old name', to: 'New name' } },
    });
  });
});
