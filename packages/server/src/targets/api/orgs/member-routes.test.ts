import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, bearer } from '../../../../test/support/api-harness.js';
import {
  startOidcProvider,
  type TestOidcProvider,
} from '../../../../test/support/oidc-provider.js';
import { type OidcTestApi, startOidcTestApi } from '../../../../test/support/oidc-test-api.js';
import { authRoutes } from '../auth/auth-routes.js';
import { memberRoutes } from './member-routes.js';
import { orgRoutes } from './org-routes.js';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

describe.each(apiBackends)('member routes on %s', (backend) => {
  let provider: TestOidcProvider;
  let api: OidcTestApi;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    provider = await startOidcProvider();
    api = await startOidcTestApi({
      backend,
      routes: [authRoutes, orgRoutes, memberRoutes],
      provider,
    });
  });
  afterAll(async () => {
    await api?.close();
    await provider?.close();
  });

  const call = (method: Method, url: string, token: string, payload?: object) =>
    api.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });

  /** A person's token; their first call creates them. */
  const person = async (name: string): Promise<string> => {
    let token = tokens.get(name);
    if (token === undefined) {
      token = await provider.tokenFor({ sub: name, email: `${name}@example.com`, name });
      tokens.set(name, token);
      expect((await call('GET', '/v1/me', token)).statusCode).toBe(200);
    }
    return token;
  };

  /** An org owned by `owner`, with its members' ids by name. */
  const orgWith = async (owner: string, members: Record<string, string> = {}) => {
    const created = await call('POST', '/v1/orgs', await person(owner), { name: `${owner}'s org` });
    const orgId = created.json().id as string;
    const ids: Record<string, string> = {};
    for (const [name, role] of Object.entries(members)) {
      await person(name);
      const added = await call('POST', `/v1/orgs/${orgId}/members`, await person(owner), {
        email: `${name}@example.com`,
        role,
      });
      expect(added.statusCode).toBe(201);
      ids[name] = added.json().id;
    }
    const list = await call('GET', `/v1/orgs/${orgId}/members`, await person(owner));
    const ownerRow = list.json().items.find((m: { name: string }) => m.name === owner);
    ids[owner] = ownerRow.id;
    return { orgId, ids };
  };

  const actions = async (orgId: string): Promise<string[]> =>
    (
      await api.database.db
        .selectFrom('audit_events')
        .select('action')
        .where('org_id', '=', orgId)
        .orderBy('seq')
        .execute()
    ).map((event) => event.action);

  it('adds a known person at once and invites an unknown one until their first login', async () => {
    const { orgId } = await orgWith('ann');
    await person('ben');
    const owner = await person('ann');
    const ben = await call('POST', `/v1/orgs/${orgId}/members`, owner, {
      email: 'BEN@example.com',
      role: 'developer',
    });
    expect(ben.statusCode).toBe(201);
    expect(ben.json()).toMatchObject({
      email: 'ben@example.com',
      name: 'ben',
      status: 'active',
      role: 'developer',
    });
    const cat = await call('POST', `/v1/orgs/${orgId}/members`, owner, {
      email: 'cat@example.com',
      role: 'viewer',
    });
    expect(cat.json()).toMatchObject({
      email: 'cat@example.com',
      user_id: null,
      status: 'pending',
      joined_at: null,
    });

    const duplicate = await call('POST', `/v1/orgs/${orgId}/members`, owner, {
      email: 'Cat@Example.com',
      role: 'admin',
    });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().errors).toEqual([
      { field: '/body/email', message: 'is already a member or invited' },
    ]);
    const badEmail = await call('POST', `/v1/orgs/${orgId}/members`, owner, {
      email: 'not-an-email',
      role: 'viewer',
    });
    expect(badEmail.statusCode).toBe(400);

    const catToken = await person('cat');
    const catMe = await call('GET', '/v1/me', catToken);
    expect(catMe.json().orgs).toEqual([expect.objectContaining({ id: orgId, role: 'viewer' })]);

    const page = await call('GET', `/v1/orgs/${orgId}/members?limit=2`, catToken);
    expect(page.json().items.map((m: { email: string }) => m.email)).toEqual([
      'ann@example.com',
      'ben@example.com',
    ]);
    const rest = await call(
      'GET',
      `/v1/orgs/${orgId}/members?cursor=${page.json().next_cursor}`,
      catToken,
    );
    expect(rest.json()).toEqual({
      items: [expect.objectContaining({ email: 'cat@example.com', status: 'active' })],
      next_cursor: null,
    });
    expect(await actions(orgId)).toEqual([
      'org.created',
      'member.added',
      'member.added',
      'member.joined',
    ]);
  });

  it('changes roles and removes members, audited', async () => {
    const { orgId, ids } = await orgWith('dan', { eve: 'viewer' });
    const owner = await person('dan');
    const changed = await call('PATCH', `/v1/orgs/${orgId}/members/${ids.eve}`, owner, {
      role: 'admin',
    });
    expect(changed.json()).toMatchObject({ id: ids.eve, role: 'admin', status: 'active' });
    const removed = await call('DELETE', `/v1/orgs/${orgId}/members/${ids.eve}`, owner);
    expect(removed.statusCode).toBe(204);
    expect((await call('GET', `/v1/orgs/${orgId}`, await person('eve'))).statusCode).toBe(404);
    expect(await actions(orgId)).toEqual([
      'org.created',
      'member.added',
      'member.updated',
      'member.removed',
    ]);
    const updated = await api.database.db
      .selectFrom('audit_events')
      .select(['summary', 'resource_id'])
      .where('org_id', '=', orgId)
      .where('action', '=', 'member.updated')
      .executeTakeFirstOrThrow();
    expect(updated).toMatchObject({
      resource_id: ids.eve,
      summary: { role: { from: 'viewer', to: 'admin' } },
    });
  });

  it('keeps weaker roles from managing members and admins from touching owners', async () => {
    const { orgId, ids } = await orgWith('fay', { gus: 'viewer', hal: 'developer', ivy: 'admin' });
    const invite = { email: 'new@example.com', role: 'viewer' };
    for (const name of ['gus', 'hal']) {
      const response = await call('POST', `/v1/orgs/${orgId}/members`, await person(name), invite);
      expect(response.statusCode, name).toBe(403);
    }
    const admin = await person('ivy');
    const grant = await call('POST', `/v1/orgs/${orgId}/members`, admin, {
      email: 'boss@example.com',
      role: 'owner',
    });
    expect(grant.statusCode).toBe(403);
    expect(grant.json().detail).toBe('only an owner may grant the owner role');
    const promote = await call('PATCH', `/v1/orgs/${orgId}/members/${ids.gus}`, admin, {
      role: 'owner',
    });
    expect(promote.statusCode).toBe(403);
    const demote = await call('PATCH', `/v1/orgs/${orgId}/members/${ids.fay}`, admin, {
      role: 'viewer',
    });
    expect(demote.statusCode).toBe(403);
    expect((await call('DELETE', `/v1/orgs/${orgId}/members/${ids.fay}`, admin)).statusCode).toBe(
      403,
    );
    expect((await call('POST', `/v1/orgs/${orgId}/members`, admin, invite)).statusCode).toBe(201);
    const owner = await person('fay');
    expect(
      (await call('PATCH', `/v1/orgs/${orgId}/members/${ids.ivy}`, owner, { role: 'owner' }))
        .statusCode,
    ).toBe(200);
  });

  it('never removes or demotes the last owner', async () => {
    const { orgId, ids } = await orgWith('jon');
    const owner = await person('jon');
    await call('POST', `/v1/orgs/${orgId}/members`, owner, {
      email: 'future-owner@example.com',
      role: 'owner',
    });
    const demote = await call('PATCH', `/v1/orgs/${orgId}/members/${ids.jon}`, owner, {
      role: 'admin',
    });
    expect(demote.statusCode).toBe(409);
    expect(demote.json().detail).toBe(
      'cannot demote the last owner of this org; make someone else an owner first',
    );
    const remove = await call('DELETE', `/v1/orgs/${orgId}/members/${ids.jon}`, owner);
    expect(remove.statusCode).toBe(409);
    expect(remove.json().detail).toBe(
      'cannot remove the last owner of this org; make someone else an owner first',
    );
    const key = await api.createApiKey(orgId, 'owner');
    expect((await call('DELETE', `/v1/orgs/${orgId}/members/${ids.jon}`, key)).statusCode).toBe(
      409,
    );
  });

  it('keeps an owner when two owners are demoted at the same time', async () => {
    for (let round = 0; round < 3; round++) {
      const { orgId, ids } = await orgWith(`kim${round}`, { [`lee${round}`]: 'owner' });
      const key = await api.createApiKey(orgId, 'owner');
      const [a, b] = await Promise.all(
        [ids[`kim${round}`], ids[`lee${round}`]].map((id) =>
          call('PATCH', `/v1/orgs/${orgId}/members/${id}`, key, { role: 'admin' }),
        ),
      );
      expect([a!.statusCode, b!.statusCode].sort()).toEqual([200, 409]);
      const owners = await api.database.db
        .selectFrom('memberships')
        .select('id')
        .where('org_id', '=', orgId)
        .where('role', '=', 'owner')
        .execute();
      expect(owners).toHaveLength(1);
    }
  });

  it("answers 404 for another org's member and for ids that are not members", async () => {
    const mine = await orgWith('max');
    const theirs = await orgWith('ned', { oli: 'viewer' });
    const owner = await person('max');
    const urls = [
      `/v1/orgs/${mine.orgId}/members/${theirs.ids.oli}`,
      `/v1/orgs/${mine.orgId}/members/not-a-uuid`,
      `/v1/orgs/${theirs.orgId}/members/${theirs.ids.oli}`,
    ];
    for (const url of urls) {
      expect((await call('PATCH', url, owner, { role: 'admin' })).statusCode, url).toBe(404);
      expect((await call('DELETE', url, owner)).statusCode, url).toBe(404);
    }
    expect((await call('GET', `/v1/orgs/${theirs.orgId}/members`, owner)).statusCode).toBe(404);
    const stillThere = await call('GET', `/v1/orgs/${theirs.orgId}/members`, await person('ned'));
    expect(stillThere.json().items).toHaveLength(2);
  });
});
