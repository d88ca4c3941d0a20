import type { ApiKey, CreatedApiKey } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { auditRoutes } from '../audit/audit-routes.js';
import { apiKeyRoutes } from './api-key-routes.js';

describe.each(apiBackends)('API keys on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let otherOrg: string;
  let admin: string;
  let owner: string;

  const create = (token: string, body: Record<string, unknown>, orgId = org) =>
    api.app.inject({
      method: 'POST',
      url: `/v1/orgs/${orgId}/api-keys`,
      headers: bearer(token),
      payload: body,
    });
  const list = (token: string, query = '', orgId = org) =>
    api.app.inject({
      method: 'GET',
      url: `/v1/orgs/${orgId}/api-keys${query}`,
      headers: bearer(token),
    });
  const revoke = (token: string, keyId: string, orgId = org) =>
    api.app.inject({
      method: 'DELETE',
      url: `/v1/orgs/${orgId}/api-keys/${keyId}`,
      headers: bearer(token),
    });
  const auditOf = async (resourceId: string) => {
    const rows = await api.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('resource_id', '=', resourceId)
      .orderBy('seq')
      .execute();
    return rows;
  };

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [apiKeyRoutes, auditRoutes] });
    org = await api.createOrg('keys');
    otherOrg = await api.createOrg('elsewhere');
    admin = await api.createApiKey(org, 'admin');
    owner = await api.createApiKey(org, 'owner');
  });
  afterAll(async () => api?.close());

  it('creates a key, shows its secret once and records who made it', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const response = await create(admin, {
      name: 'ci deploys',
      role: 'developer',
      expires_at: expiresAt,
    });
    expect(response.statusCode).toBe(201);
    const created = response.json<CreatedApiKey>();
    expect(created.key).toMatch(/^flk_[0-9a-z]{12}_[\w-]{43}$/);
    expect(created.key.startsWith(created.prefix)).toBe(true);
    expect(created).toMatchObject({
      name: 'ci deploys',
      role: 'developer',
      expires_at: expiresAt,
      revoked_at: null,
      last_used_at: null,
      created_by: { type: 'api_key' },
    });

    const [event] = await auditOf(created.id);
    expect(event).toMatchObject({
      action: 'api_key.created',
      actor_type: 'api_key',
      resource_type: 'api_key',
      org_id: org,
    });
    expect(event!.summary).toEqual({
      name: 'ci deploys',
      role: 'developer',
      prefix: created.prefix,
      expires_at: expiresAt,
    });
    expect(JSON.stringify(event)).not.toContain(created.key.slice(17));

    const stored = await api.database.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow();
    expect(stored.secret_hash).not.toContain(created.key);
  });

  it('never lets a caller create a key above its own role', async () => {
    const refused = await create(admin, { name: 'escalate', role: 'owner' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().detail).toBe(
      'you cannot create an API key with the owner role; yours is admin',
    );
    const allowed = await create(owner, { name: 'second owner', role: 'owner' });
    expect(allowed.statusCode).toBe(201);
  });

  it('refuses developers, viewers, strangers and other orgs', async () => {
    for (const role of ['viewer', 'developer'] as const) {
      const token = await api.createApiKey(org, role);
      expect((await create(token, { name: 'x', role: 'viewer' })).statusCode, role).toBe(403);
      expect((await list(token)).statusCode, role).toBe(403);
    }
    const outsider = await api.createApiKey(otherOrg, 'owner');
    expect((await create(outsider, { name: 'x', role: 'viewer' })).statusCode).toBe(404);
    expect((await list(outsider)).statusCode).toBe(404);
    const anonymous = await api.app.inject({ method: 'GET', url: `/v1/orgs/${org}/api-keys` });
    expect(anonymous.statusCode).toBe(401);
  });

  it('names the field of every invalid request', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ role: 'viewer' }, '/body/name'],
      [{ name: '', role: 'viewer' }, '/body/name'],
      [{ name: 'x', role: 'superuser' }, '/body/role'],
      [{ name: 'x', role: 'viewer', expires_at: 'tomorrow' }, '/body/expires_at'],
      [
        { name: 'x', role: 'viewer', expires_at: new Date(Date.now() - 1000).toISOString() },
        '/body/expires_at',
      ],
      [{ name: 'x', role: 'viewer', secret: 'mine' }, '/body/secret'],
    ];
    for (const [body, field] of cases) {
      const response = await create(admin, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json().code).toBe('validation_failed');
      expect(
        response.json().errors.map((e: { field: string }) => e.field),
        JSON.stringify(body),
      ).toContain(field);
    }
  });

  it('lists keys page by page without their secrets', async () => {
    const listOrg = await api.createOrg('many keys');
    const listAdmin = await api.createApiKey(listOrg, 'admin');
    for (let i = 0; i < 4; i++)
      expect((await create(listAdmin, { name: `k${i}`, role: 'viewer' }, listOrg)).statusCode).toBe(
        201,
      );

    const seen: ApiKey[] = [];
    let cursor: string | null = null;
    do {
      const response = await list(
        listAdmin,
        `?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`,
        listOrg,
      );
      expect(response.statusCode).toBe(200);
      const page = response.json<{ items: ApiKey[]; next_cursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor !== null);

    expect(seen.map((k) => k.name)).toEqual(['k3', 'k2', 'k1', 'k0', 'admin key']);
    for (const key of seen) {
      expect(Object.keys(key).sort()).toEqual(
        [
          'created_at',
          'created_by',
          'expires_at',
          'id',
          'last_used_at',
          'name',
          'prefix',
          'revoked_at',
          'role',
        ].sort(),
      );
    }
    const bad = await list(listAdmin, '?cursor=nope', listOrg);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('/query/cursor');
  });

  it('records when a key was last used', async () => {
    const created = (await create(admin, { name: 'used', role: 'admin' })).json<CreatedApiKey>();
    expect((await list(created.key, '?limit=500')).statusCode).toBe(200);
    const listed = (await list(admin, '?limit=500'))
      .json<{ items: ApiKey[] }>()
      .items.find((k) => k.id === created.id);
    expect(listed?.last_used_at).not.toBeNull();
    expect(Date.parse(listed!.last_used_at!)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('revokes a key so that it stops working at once', async () => {
    const created = (
      await create(admin, { name: 'short lived', role: 'admin' })
    ).json<CreatedApiKey>();
    expect((await list(created.key)).statusCode).toBe(200);

    const response = await revoke(admin, created.id);
    expect(response.statusCode).toBe(204);
    const refused = await list(created.key);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().detail).toBe('this API key was revoked');

    const listed = (await list(admin, '?limit=500'))
      .json<{ items: ApiKey[] }>()
      .items.find((k) => k.id === created.id);
    expect(listed?.revoked_at).not.toBeNull();
    const events = await auditOf(created.id);
    expect(events.map((e) => e.action)).toEqual(['api_key.created', 'api_key.revoked']);
    expect(events[1]!.summary).toEqual({
      name: 'short lived',
      role: 'admin',
      prefix: created.prefix,
    });

    const again = await revoke(admin, created.id);
    expect(again.statusCode).toBe(409);
  });

  it("answers 404 for another org's key and refuses to revoke a stronger key", async () => {
    const foreignAdmin = await api.createApiKey(otherOrg, 'admin');
    const foreign = (
      await create(foreignAdmin, { name: 'theirs', role: 'viewer' }, otherOrg)
    ).json<CreatedApiKey>();
    expect((await revoke(owner, foreign.id)).statusCode).toBe(404);
    const malformed = await revoke(owner, 'not-a-uuid');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().errors[0].field).toBe('/params/keyId');
    expect((await revoke(owner, '00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    const untouched = await api.database.db
      .selectFrom('api_keys')
      .select('revoked_at')
      .where('id', '=', foreign.id)
      .executeTakeFirstOrThrow();
    expect(untouched.revoked_at).toBeNull();

    const strong = (
      await create(owner, { name: 'owner automation', role: 'owner' })
    ).json<CreatedApiKey>();
    const refused = await revoke(admin, strong.id);
    expect(refused.statusCode).toBe(403);
    expect((await revoke(owner, strong.id)).statusCode).toBe(204);
  });
});
