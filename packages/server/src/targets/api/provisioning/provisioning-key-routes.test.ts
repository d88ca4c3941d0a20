import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiBackends,
  bearer,
  startTestApi,
  type TestApi,
} from '../../../../test/support/api-harness.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import { tokenMatches, tokenPrefix } from '../../../platform/auth/secret-token.js';
import { provisioningKeyRoutes } from './provisioning-key-routes.js';

describe.each(apiBackends)('provisioning key routes on %s', (backend) => {
  let api: TestApi;
  let orgA: string;
  let fleetA: string;
  let developerA: string;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [provisioningKeyRoutes] });
    orgA = await api.createOrg('a');
    fleetA = await api.createFleet(orgA);
    developerA = await api.createApiKey(orgA, 'developer');
  });
  afterAll(async () => api?.close());

  const keysOf = (fleetId: string) => `/v1/fleets/${fleetId}/provisioning-keys`;
  const create = (fleetId: string, token: string, payload: Record<string, unknown> = {}) =>
    api.app.inject({ method: 'POST', url: keysOf(fleetId), headers: bearer(token), payload });
  const list = async (fleetId: string, token: string, query = '') => {
    const response = await api.app.inject({
      method: 'GET',
      url: `${keysOf(fleetId)}${query}`,
      headers: bearer(token),
    });
    expect(response.statusCode).toBe(200);
    return response.json() as { items: Record<string, unknown>[]; next_cursor: string | null };
  };

  it('returns the secret once, stores only its hash and audits without it', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const response = await create(fleetA, developerA, {
      name: 'factory line 1',
      expires_at: expiresAt,
      max_uses: 5,
    });
    expect(response.statusCode).toBe(201);
    const key = response.json();
    expect(key).toMatchObject({
      fleet_id: fleetA,
      name: 'factory line 1',
      uses: 0,
      max_uses: 5,
      expires_at: expiresAt,
      revoked_at: null,
      state: 'active',
    });
    expect(tokenPrefix('provisioningKey', key.provisioning_key)).toBe(key.prefix);

    const row = await api.database.db
      .selectFrom('provisioning_keys')
      .selectAll()
      .where('id', '=', key.id)
      .executeTakeFirstOrThrow();
    expect(tokenMatches(key.provisioning_key, row.secret_hash)).toBe(true);
    expect(row).toMatchObject({ org_id: orgA, created_by_type: 'api_key' });

    const listed = await list(fleetA, developerA);
    const shown = listed.items.find((item) => item.id === key.id);
    expect(shown).toEqual({ ...key, provisioning_key: undefined });
    expect(JSON.stringify(listed)).not.toContain(key.provisioning_key);

    const [event] = await auditEvents(api, orgA, 'provisioning_key.created');
    expect(event?.summary).toEqual({
      fleet_id: fleetA,
      name: 'factory line 1',
      prefix: key.prefix,
      expires_at: expiresAt,
      max_uses: 5,
    });
    expect(JSON.stringify(event)).not.toContain(key.provisioning_key);
  });

  it('names a key after its prefix when no name is given, and never expires it by default', async () => {
    const key = (await create(fleetA, developerA)).json();
    expect(key).toMatchObject({
      name: key.prefix,
      expires_at: null,
      max_uses: null,
      state: 'active',
    });
  });

  it('names the fields that fail validation', async () => {
    const past = await create(fleetA, developerA, {
      expires_at: new Date(Date.now() - 1000).toISOString(),
    });
    expect(past.statusCode).toBe(400);
    expect(past.json().errors).toEqual([
      { field: '/body/expires_at', message: 'must be in the future' },
    ]);
    const wrong = await create(fleetA, developerA, {
      max_uses: 0,
      expires_at: 'tomorrow',
      secret: 'x',
    });
    expect(wrong.statusCode).toBe(400);
    const fields = (wrong.json().errors as { field: string }[]).map((error) => error.field);
    expect(fields).toEqual(expect.arrayContaining(['/body/max_uses', '/body/expires_at']));
  });

  it('revokes a key once, shows its state and audits it', async () => {
    const key = (await create(fleetA, developerA, { name: 'to revoke' })).json();
    const url = `${keysOf(fleetA)}/${key.id}`;
    const revoked = await api.app.inject({ method: 'DELETE', url, headers: bearer(developerA) });
    expect(revoked.statusCode).toBe(204);
    const shown = (await list(fleetA, developerA)).items.find((item) => item.id === key.id);
    expect(shown).toMatchObject({ state: 'revoked', revoked_at: expect.any(String) });
    const again = await api.app.inject({ method: 'DELETE', url, headers: bearer(developerA) });
    expect(again.statusCode).toBe(409);
    const events = await auditEvents(api, orgA, 'provisioning_key.revoked');
    expect(events.map((event) => event.resource_id)).toEqual([key.id]);
  });

  it('shows expired and exhausted keys as such', async () => {
    const expiring = (await create(fleetA, developerA, { name: 'expiring' })).json();
    const capped = (await create(fleetA, developerA, { name: 'capped', max_uses: 2 })).json();
    await api.database.db
      .updateTable('provisioning_keys')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', expiring.id)
      .execute();
    await api.database.db
      .updateTable('provisioning_keys')
      .set({ uses: 2 })
      .where('id', '=', capped.id)
      .execute();
    const items = (await list(fleetA, developerA)).items;
    expect(items.find((item) => item.id === expiring.id)?.state).toBe('expired');
    expect(items.find((item) => item.id === capped.id)).toMatchObject({
      state: 'exhausted',
      uses: 2,
    });
  });

  it('lists newest first, a page at a time', async () => {
    const fleet = await api.createFleet(orgA);
    const made: string[] = [];
    for (let i = 0; i < 5; i += 1)
      made.push((await create(fleet, developerA, { name: `k${i}` })).json().id);
    const seen: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(
        fleet,
        developerA,
        cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`,
      );
      seen.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen.map((item) => item.id).sort()).toEqual([...made].sort());
    const times = seen.map((item) => String(item.created_at));
    expect(times).toEqual([...times].sort().reverse());
  });

  it('keeps viewers and other orgs out, and keys to their own fleet', async () => {
    const viewer = await api.createApiKey(orgA, 'viewer');
    expect((await create(fleetA, viewer)).statusCode).toBe(403);
    const listAsViewer = await api.app.inject({
      method: 'GET',
      url: keysOf(fleetA),
      headers: bearer(viewer),
    });
    expect(listAsViewer.statusCode).toBe(403);

    const orgB = await api.createOrg('b');
    const developerB = await api.createApiKey(orgB, 'developer');
    const key = (await create(fleetA, developerA)).json();
    expect((await create(fleetA, developerB)).statusCode).toBe(404);
    const foreign = await api.app.inject({
      method: 'GET',
      url: keysOf(fleetA),
      headers: bearer(developerB),
    });
    expect(foreign.statusCode).toBe(404);
    const revokeFromB = await api.app.inject({
      method: 'DELETE',
      url: `${keysOf(fleetA)}/${key.id}`,
      headers: bearer(developerB),
    });
    expect(revokeFromB.statusCode).toBe(404);

    const otherFleet = await api.createFleet(orgA);
    const crossFleet = await api.app.inject({
      method: 'DELETE',
      url: `${keysOf(otherFleet)}/${key.id}`,
      headers: bearer(developerA),
    });
    expect(crossFleet.statusCode).toBe(404);
    const stillActive = (await list(fleetA, developerA)).items.find((item) => item.id === key.id);
    expect(stillActive?.state).toBe('active');
  });
});
